"""The attacks of issue #11, made as an outsider with write access to the database but none of
the service's secrets: by direct SQL, and where a rewrite needs hashes, with the project's own
public functions (but never the seal key). Each runs on SQLite and PostgreSQL and must make
verification fail with the problem named."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from consent_service.canonical import canonical_hash
from consent_service.cli import main
from consent_service.compliance import merkle, seals
from consent_service.compliance.seal_keys import SealSigner
from consent_service.consents import record_crypto
from consent_service.consents.visitor_keys import open_key
from consent_service.crypto import FieldCipher
from consent_service.extensions import db
from consent_service.models import ConsentRecord, Seal
from tests.support import services
from tests.support.compliance import ALL, FUTURE, bearer, check, make_records, sql

RECORDS = ConsentRecord.__table__


@pytest.fixture
def sealed(app, demo):
    """25 records (alternating user agents): two sealed windows of 10, and 5 not yet sealed."""
    made = []
    for index in range(25):
        made += make_records(app, 1, start=datetime.now(UTC) - timedelta(days=1, minutes=-index),
                             user_agent=f"Browser/{index % 2}")
    with app.app_context():
        settings = services(app).settings
        seals.seal_pending(db.session, "demo", 10, settings.seal_max_age_seconds, services(app).seal_signer,
                           now=FUTURE, limit=2)
    return [record.record_id for record in made]


def seal_rows(app):
    with app.app_context():
        rows = db.session.query(Seal).order_by(Seal.id).all()
        db.session.expunge_all()
        return rows


def row_of(app, record_id):
    with app.app_context():
        return dict(db.session.execute(sa.select(RECORDS).where(RECORDS.c.id == record_id)).one()._mapping)


def fails_with(app, kind, expect_head=None, **named):
    report = check(app, expect_head=expect_head)
    assert not report.ok and report.problem.kind == kind, report.problem
    for name, value in named.items():
        assert getattr(report.problem, name) == value, report.problem
    return report


def rebuild_chain(app, signer: SealSigner | None = None):
    """What an intruder with the project's code but not the seal key does after changing records:
    recompute every seal's leaves, manifest, Merkle root, window, link and digest, in order (and,
    with a key of their own, sign them)."""
    with app.app_context():
        previous, after = seals.genesis_digest("demo"), None
        for seal in db.session.query(Seal).order_by(Seal.id).all():
            rows = db.session.execute(sa.select(RECORDS).where(
                RECORDS.c.site_id == "demo", RECORDS.c.seq <= seal.last_seq,
                *([RECORDS.c.seq > after] if after is not None else []),
            ).order_by(RECORDS.c.seq)).all()
            after = seal.last_seq
            leaves = [seals.record_leaf(row._mapping) for row in rows]
            seal.manifest = b"".join(seals.manifest_entry(row.id, leaf) for row, leaf in zip(rows, leaves, strict=True))
            seal.merkle_root = merkle.root(leaves).hex()
            seal.record_count, seal.first_record_id, seal.last_record_id = len(rows), rows[0].id, rows[-1].id
            seal.first_seq, seal.last_seq = rows[0].seq, rows[-1].seq
            seal.previous_digest = previous
            if signer is not None:
                seals.sign_seal(seal, signer)
            else:
                seal.digest = seals.statement_digest(seals.seal_statement(seal))
            previous = seal.digest
        db.session.commit()


# ------------------------------------------------------------------ 1. a fake purge hides deletions

def test_fake_purge_of_one_period_is_named(app, client, sealed):
    first = seal_rows(app)[0]
    sql(app, "UPDATE seals SET purged_at = :now WHERE id = :id", now=datetime.now(UTC), id=first.id)
    sql(app, "DELETE FROM consent_records WHERE seq <= :last", last=first.last_seq)
    fails_with(app, "purge_forged", seal_id=first.id)
    # The API and the CLI say the same.
    body = client.get("/v1/sites/demo/proof/verify", headers=bearer(app, "export")).get_json()
    assert body["ok"] is False and body["problem"]["kind"] == "purge_forged"
    result = app.test_cli_runner().invoke(main, ["proof", "verify", "--site", "demo"])
    assert result.exit_code == 1 and "purge_forged" in result.output


def test_fake_purge_of_everything_is_named(app, sealed):
    sql(app, "UPDATE seals SET purged_at = :now", now=datetime.now(UTC))
    sql(app, "DELETE FROM consent_records WHERE seq <= (SELECT max(last_seq) FROM seals)")
    fails_with(app, "purge_forged", seal_id=seal_rows(app)[0].id)


def test_a_purge_marker_of_the_intruders_own_making_is_named(app, sealed):
    first = seal_rows(app)[0]
    marker = json.dumps({"statement": {"seal_digest": first.digest}, "key_id": "x", "signature": "00" * 64})
    sql(app, "UPDATE seals SET purged_at = :now, purge_marker = :marker WHERE id = :id",
        now=datetime.now(UTC), marker=marker, id=first.id)
    sql(app, "DELETE FROM consent_records WHERE seq <= :last", last=first.last_seq)
    fails_with(app, "purge_forged", seal_id=first.id)


# ------------------------------------------------------- 2. a sealed period rewritten without the key

def test_flipped_choices_with_every_hash_recomputed_are_named(app, sealed):
    target = row_of(app, sealed[3])
    target["choices"] = {**target["choices"], "marketing": True}
    target["digest"] = record_crypto.record_digest(target)
    sql(app, "UPDATE consent_records SET choices = :choices, digest = :digest WHERE id = :id",
        choices=json.dumps(target["choices"]), digest=target["digest"], id=sealed[3])
    fails_with(app, "record_edited", record_id=sealed[3])  # before the intruder rebuilds the seals
    rebuild_chain(app)
    fails_with(app, "seal_forged", seal_id=seal_rows(app)[0].id)


def test_deleted_record_with_the_chain_rebuilt_is_named(app, sealed):
    sql(app, "DELETE FROM consent_records WHERE id = :id", id=sealed[4])
    rebuild_chain(app)
    fails_with(app, "seal_forged", seal_id=seal_rows(app)[0].id)


def test_forged_accept_all_inserted_in_the_first_seal_is_named(app, sealed):
    forged = row_of(app, sealed[0])
    forged.update(id=sealed[0][:10] + "0" * 16, client_record_id=None, choices=ALL, method="accept_all", seq=-1)
    forged["digest"] = record_crypto.record_digest(forged)
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(RECORDS.insert().values(**forged))
    fails_with(app, "record_inserted", record_id=forged["id"])
    rebuild_chain(app)
    fails_with(app, "seal_forged", seal_id=seal_rows(app)[0].id)


def test_a_chain_signed_with_the_intruders_own_key_is_named(app, sealed):
    sql(app, "DELETE FROM consent_records WHERE id = :id", id=sealed[12])
    rebuild_chain(app, signer=SealSigner(["the-intruders-own-secret-0123456789abcdef"]))
    report = fails_with(app, "seal_forged", seal_id=seal_rows(app)[0].id)
    assert "published seal key" in report.problem.message


# --------------------------------------------------------- 3. personal fields and policy texts

def test_nulled_ciphertexts_are_named(app, sealed):
    sql(app, "UPDATE consent_records SET user_agent = NULL, page_url = NULL WHERE id = :id", id=sealed[6])
    fails_with(app, "record_edited", record_id=sealed[6], seal_id=seal_rows(app)[0].id)


def test_swapped_user_agent_ciphertexts_are_named(app, sealed):
    one, other = row_of(app, sealed[1]), row_of(app, sealed[2])
    assert one["visitor_id"] != other["visitor_id"] and one["user_agent"] != other["user_agent"]
    sql(app, "UPDATE consent_records SET user_agent = :ua WHERE id = :id", ua=other["user_agent"], id=sealed[1])
    sql(app, "UPDATE consent_records SET user_agent = :ua WHERE id = :id", ua=one["user_agent"], id=sealed[2])
    fails_with(app, "record_edited", record_id=sealed[1])


def test_a_forged_user_agent_is_named_even_under_the_visitors_own_key(app, sealed):
    target = row_of(app, sealed[5])
    stored = sql(app, "SELECT key FROM visitor_keys WHERE visitor_id = :v", v=target["visitor_id"]).scalar()
    # What the table holds is wrapped: it is no field key (and the intruder has no secret to unwrap it).
    with pytest.raises(ValueError):
        FieldCipher(stored)
    # Even with the real key (as if a secret had leaked), re-encrypting is caught by the seal.
    key = open_key(services(app).keyring, "demo", target["visitor_id"], stored)
    target["user_agent"] = FieldCipher(key).encrypt(target["id"], "user_agent", "Forged/9.9")
    target["user_agent_digest"] = record_crypto.field_digest(key, "user_agent", "Forged/9.9")
    target["digest"] = record_crypto.record_digest(target)
    sql(app, "UPDATE consent_records SET user_agent = :ua, user_agent_digest = :uad, digest = :d WHERE id = :id",
        ua=target["user_agent"], uad=target["user_agent_digest"], d=target["digest"], id=target["id"])
    fails_with(app, "record_edited", record_id=sealed[5])


def test_an_edited_policy_text_is_named(app, sealed):
    with app.app_context():
        notice = db.session.execute(sa.text("SELECT content FROM policy_versions WHERE version = 1")).scalar()
    notice = json.loads(notice) if isinstance(notice, str) else notice
    notice["texts"]["en"]["title"] = "We never use cookies"
    sql(app, "UPDATE policy_versions SET content = :content WHERE version = 1", content=json.dumps(notice))
    assert "policy version 1" in fails_with(app, "policy_edited").problem.message
    # Replacing the hash as well leaves every record naming a text that is no longer there.
    sql(app, "UPDATE policy_versions SET content_hash = :hash WHERE version = 1", hash=canonical_hash(notice))
    fails_with(app, "policy_edited", record_id=sealed[0])


# ------------------------------------------------------------------------ 4. writers' clocks

def test_a_writer_whose_clock_is_behind_is_sealed_and_never_reported(app, demo, monkeypatch):
    monkeypatch.setattr(seals, "SETTLE_SECONDS", 0)
    signer = services(app).seal_signer
    first = make_records(app, 1, start=datetime.now(UTC))[0]
    with app.app_context():
        assert [s.record_count for s in seals.seal_pending(db.session, "demo", 1000, 0, signer, force=True)] == [1]
    # A second server 15 s behind writes a record after the first server's sealer ran.
    late = make_records(app, 1, start=datetime.now(UTC) - timedelta(seconds=15))[0]
    assert late.record_id < first.record_id  # by the clock it came first
    report = check(app)
    assert report.ok and report.unsealed_records == 1, report.problem
    with app.app_context():
        assert [s.record_count for s in seals.seal_pending(db.session, "demo", 1000, 0, signer, force=True)] == [1]
    report = check(app)
    assert report.ok and report.sealed_records == 2 and report.unsealed_records == 0, report.problem


def test_a_back_dated_insert_after_sealing_is_named(app, sealed):
    """Unsealed records can be forged by someone with the database (the window the seal closes),
    but not back-dated into a sealed period."""
    forged = row_of(app, sealed[2])
    forged.update(id=sealed[2][:10] + "Z" * 16, client_record_id=None)
    del forged["seq"], forged["stored_at"]
    forged["digest"] = record_crypto.record_digest(forged)
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(RECORDS.insert().values(**forged))
    fails_with(app, "record_inserted", record_id=forged["id"], seal_id=seal_rows(app)[0].id)


# --------------------------------------------------------- the chain head kept outside the database

def test_a_truncated_tail_is_caught_by_the_head_kept_elsewhere(app, client, sealed):
    kept = check(app).head["digest"]
    last = seal_rows(app)[-1]
    assert check(app, expect_head=kept).ok
    sql(app, "DELETE FROM seals WHERE id = :id", id=last.id)
    sql(app, "DELETE FROM consent_records WHERE seq >= :first", first=last.first_seq)
    assert check(app).ok  # nothing inside the database can tell
    assert kept in fails_with(app, "head_missing", expect_head=kept).problem.message
    headers = bearer(app, "export")
    body = client.get(f"/v1/sites/demo/proof/verify?expect_head={kept}", headers=headers).get_json()
    assert body["ok"] is False and body["problem"]["kind"] == "head_missing" and body["expected_head"] == kept
    for bad in ("abc", kept.upper(), kept + "0", "%00"):
        response = client.get(f"/v1/sites/demo/proof/verify?expect_head={bad}", headers=headers)
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_head"
    runner = app.test_cli_runner()
    result = runner.invoke(main, ["proof", "verify", "--site", "demo", "--expect-head", kept])
    assert result.exit_code == 1 and "head_missing" in result.output
    assert runner.invoke(main, ["proof", "verify", "--site", "demo", "--expect-head", "nope"]).exit_code != 0
