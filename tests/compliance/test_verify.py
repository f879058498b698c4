"""Tamper evidence: signed seals over batches of records, chained; verification names the first
record or seal that does not match. Tampering happens directly in SQL, as an intruder with database
access (but none of the service's secrets) would do it; the attacks of issue #11 are in
test_attacks.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from consent_service.cli import main
from consent_service.compliance import seals
from consent_service.compliance import verify as verification
from consent_service.consents import record_crypto
from consent_service.extensions import db
from consent_service.models import AccessLogEntry, ConsentRecord, Seal
from tests.support import services
from tests.support.compliance import FUTURE, bearer, check, make_records, post, record_ids, seal_all, sql


def seal_ids(app):
    with app.app_context():
        return [seal.id for seal in db.session.query(Seal).order_by(Seal.id)]


def verify(app):
    return check(app)


@pytest.fixture
def sealed(app, demo):
    """25 records: two sealed windows of 10, and 5 not yet sealed."""
    make_records(app, 25)
    with app.app_context():
        settings = app.extensions["consent"].settings
        made = seals.seal_pending(db.session, "demo", 10, settings.seal_max_age_seconds,
                                  services(app).seal_signer, now=FUTURE, limit=2)
        assert [seal.record_count for seal in made] == [10, 10]
    return record_ids(app)


def test_untouched_records_verify(app, sealed):
    report = verify(app)
    assert report.ok, report.problem
    assert (report.seals, report.sealed_records, report.unsealed_records) == (2, 20, 5)
    assert report.oldest_unsealed_id == sealed[20]
    body = report.to_dict()
    assert body["head"]["last_record_id"] == sealed[19] and body["problem"] is None
    assert body["key_ids"] == [services(app).seal_signer.kid] and body["policy_versions"] == 1


def test_seals_chain_and_commit_to_their_window(app, sealed):
    with app.app_context():
        first, second = db.session.query(Seal).order_by(Seal.id).all()
        assert first.previous_digest == seals.genesis_digest("demo")
        assert second.previous_digest == first.digest
        assert (first.first_record_id, first.last_record_id) == (sealed[0], sealed[9])
        listed = list(seals.iter_manifest(second.manifest))
        assert [record_id for record_id, _ in listed] == sealed[10:20]
        assert seals.statement_digest(seals.seal_statement(second)) == second.digest
        assert second.first_seq == first.last_seq + 1 and second.key_id == services(app).seal_signer.kid


def test_edited_choice_is_detected(app, sealed):
    target = sealed[13]
    sql(app, "UPDATE consent_records SET method = 'accept_all' WHERE id = :id", id=target)
    report = verify(app)
    assert not report.ok and report.problem.kind == "record_edited"
    assert report.problem.record_id == target and report.problem.seal_id == seal_ids(app)[1]


def test_edited_choices_json_with_recomputed_digest_is_detected(app, sealed):
    """The intruder also rewrites the record's own digest column: the seal still catches it."""
    target = sealed[4]
    with app.app_context():
        row = dict(db.session.execute(db.select(*verification._RECORD_COLUMNS).where(
            ConsentRecord.id == target)).one()._mapping)
    row["choices"] = {**row["choices"], "marketing": True}
    forged_digest = record_crypto.record_digest(row)
    with app.app_context(), db.engine.begin() as connection:
        table = ConsentRecord.__table__
        connection.execute(table.update().where(table.c.id == target).values(
            choices=row["choices"], digest=forged_digest))
    report = verify(app)
    assert report.problem.kind == "record_edited" and report.problem.record_id == target


def test_deleted_record_is_named(app, sealed):
    target = sealed[7]
    sql(app, "DELETE FROM consent_records WHERE id = :id", id=target)
    report = verify(app)
    assert report.problem.kind == "record_deleted" and report.problem.record_id == target
    assert report.problem.seal_id == seal_ids(app)[0]


def test_deleted_last_record_of_a_window_is_named(app, sealed):
    sql(app, "DELETE FROM consent_records WHERE id = :id", id=sealed[19])
    assert verify(app).problem.record_id == sealed[19]


def _forge(app, like: str, new_id: str) -> None:
    """Copy a record under a new id (and its time) with a digest that is right for the copy; the
    database gives it the next place in the store order, as it would any insert."""
    with app.app_context():
        row = dict(db.session.execute(db.select(ConsentRecord.__table__).where(
            ConsentRecord.id == like)).one()._mapping)
        row.update(id=new_id, client_record_id=None)
        del row["seq"], row["stored_at"]
        row["digest"] = record_crypto.record_digest(row)
        with db.engine.begin() as connection:
            connection.execute(ConsentRecord.__table__.insert().values(**row))


def test_forged_record_inside_a_window_is_named(app, sealed):
    forged = sealed[5][:10] + "0" * 16  # same millisecond as a sealed record, sorts just before it
    assert sealed[4] < forged < sealed[5]
    _forge(app, sealed[5], forged)
    report = verify(app)
    assert report.problem.kind == "record_inserted" and report.problem.record_id == forged
    assert report.problem.seal_id == seal_ids(app)[0]


def test_forged_record_between_windows_is_named(app, sealed):
    forged = sealed[9][:10] + "Z" * 16
    assert sealed[9] < forged < sealed[10]
    _forge(app, sealed[9], forged)
    report = verify(app)
    assert report.problem.kind == "record_inserted" and report.problem.record_id == forged


def test_forged_record_before_everything_is_named(app, sealed):
    forged = "0" * 26
    _forge(app, sealed[0], forged)
    assert verify(app).problem.record_id == forged


@pytest.mark.parametrize("assignment", [
    "record_count = 9", "merkle_root = '" + "0" * 64 + "'", "last_record_id = first_record_id",
    "created_at = (SELECT created_at FROM consent_records ORDER BY id LIMIT 1)",
])
def test_edited_seal_is_named(app, sealed, assignment):
    sql(app, f"UPDATE seals SET {assignment} WHERE id = (SELECT min(id) FROM seals)")
    report = verify(app)
    assert not report.ok and report.problem.kind == "seal_edited"
    assert report.problem.seal_id == seal_ids(app)[0]


def test_edited_manifest_is_named(app, sealed):
    with app.app_context():
        first = db.session.query(Seal).order_by(Seal.id).first()
        first.manifest = first.manifest[:-1] + bytes([first.manifest[-1] ^ 1])
        db.session.commit()
    report = verify(app)
    assert report.problem.kind == "seal_edited" and "list of sealed records" in report.problem.message


def test_rewritten_seal_breaks_the_chain(app, sealed):
    """An intruder who deletes a record and recomputes its seal (without the seal key) is caught:
    the seal's signature no longer holds, and the next seal's link would not either."""
    with app.app_context():
        first = db.session.query(Seal).order_by(Seal.id).first()
        entries = list(seals.iter_manifest(first.manifest))[:-1]
        manifest = b"".join(seals.manifest_entry(*entry) for entry in entries)
        first.manifest = manifest
        first.record_count = len(entries)
        first.last_record_id = entries[-1][0]
        first.last_seq -= 1
        first.merkle_root = seals.merkle.root([leaf for _, leaf in entries]).hex()
        first.digest = seals.statement_digest(seals.seal_statement(first))
        db.session.commit()
    sql(app, "DELETE FROM consent_records WHERE id = :id", id=sealed[9])
    report = verify(app)
    assert report.problem.kind == "seal_forged" and report.problem.seal_id == seal_ids(app)[0]
    sql(app, "UPDATE seals SET signature = NULL WHERE id = :id", id=seal_ids(app)[0])
    assert verify(app).problem.kind == "seal_unsigned"


def test_deleted_seal_breaks_the_chain(app, sealed):
    sql(app, "DELETE FROM seals WHERE id = (SELECT min(id) FROM seals)")
    assert verify(app).problem.kind == "seal_chain_broken"


def test_edited_unsealed_record_is_detected(app, sealed):
    sql(app, "UPDATE consent_records SET language = 'zh-CN' WHERE id = :id", id=sealed[22])
    report = verify(app)
    assert report.problem.kind == "record_edited" and report.problem.record_id == sealed[22]
    assert report.problem.seal_id is None


def test_no_fork_when_two_sealers_race(app, demo):
    make_records(app, 6)
    with app.app_context():
        previous = seals.last_seal(db.session, "demo")
        assert previous is None
        signer = services(app).seal_signer
        first = seals.seal_once(db.session, "demo", 3, signer, now=FUTURE)
        # A second sealer that read the chain before the first committed builds on the same head.
        rival = Seal(site_id="demo", first_record_id=first.first_record_id, last_record_id=first.last_record_id,
                     record_count=first.record_count, merkle_root=first.merkle_root, first_seq=first.first_seq,
                     last_seq=first.last_seq, expires_through=first.expires_through,
                     previous_digest=first.previous_digest, created_at=datetime.now(UTC), manifest=first.manifest)
        seals.sign_seal(rival, signer)
        db.session.add(rival)
        with pytest.raises(Exception):  # noqa: B017  (IntegrityError, whatever the driver calls it)
            db.session.commit()
        db.session.rollback()
        assert db.session.query(Seal).count() == 1
    assert verify(app).ok


def test_recent_records_wait_to_settle(app, demo):
    make_records(app, 3, start=datetime.now(UTC) - timedelta(seconds=1), step=timedelta(milliseconds=1))
    with app.app_context():
        assert seals.seal_pending(db.session, "demo", 1, 0, services(app).seal_signer, force=True) == []
    assert [count for _, count in seal_all(app)] == [3]


def test_batch_and_age_triggers(app, demo):
    old = datetime.now(UTC) - timedelta(hours=2)
    make_records(app, 5, start=old)
    now = datetime.now(UTC) + timedelta(seconds=seals.SETTLE_SECONDS + 1)  # stored long enough ago
    signer = services(app).seal_signer
    with app.app_context():
        assert seals.seal_pending(db.session, "demo", 10, 3 * 3600, signer, now=now) == []  # neither full nor old
        made = seals.seal_pending(db.session, "demo", 2, 3 * 3600, signer, now=now)  # two full batches of 2
        assert [s.record_count for s in made] == [2, 2]
        made = seals.seal_pending(db.session, "demo", 10, 3600, signer, now=now)  # the rest is overdue
        assert [s.record_count for s in made] == [1]


def test_automatic_sealing_after_posts(make_app, consent_body):
    app = make_app(SEAL_BATCH_SIZE="4", SEAL_MAX_AGE_SECONDS="3600")
    from tests.support import sync_demo

    sync_demo(app)
    client = app.test_client()
    old_settle = seals.SETTLE_SECONDS
    seals.SETTLE_SECONDS = 0
    try:
        for _ in range(9):
            post(client, consent_body)
    finally:
        seals.SETTLE_SECONDS = old_settle
    with app.app_context():
        counts = [s.record_count for s in db.session.query(Seal).order_by(Seal.id)]
    assert counts and all(count == 4 for count in counts) and sum(counts) in (4, 8)
    assert verify(app).ok


def test_verify_endpoint_and_cli(app, client, sealed):
    headers = bearer(app, "export")
    body = client.get("/v1/sites/demo/proof/verify", headers=headers).get_json()
    assert body["ok"] is True and body["sealed_records"] == 20 and body["unsealed_records"] == 5
    assert client.get("/v1/sites/demo/proof/verify", headers=bearer(app, "read")).status_code == 403
    assert client.get("/v1/sites/demo/proof/verify").status_code == 401
    assert client.get("/v1/sites/demo/proof/verify?x=1", headers=headers).status_code == 400

    runner = app.test_cli_runner()
    ok = runner.invoke(main, ["proof", "verify", "--site", "demo"])
    assert ok.exit_code == 0 and "ok" in ok.output
    sql(app, "DELETE FROM consent_records WHERE id = :id", id=sealed[2])
    failed = runner.invoke(main, ["proof", "verify", "--site", "demo"])
    assert failed.exit_code == 1 and "record_deleted" in failed.output and sealed[2] in failed.output
    as_json = runner.invoke(main, ["proof", "verify", "--site", "demo", "--json"])
    assert json.loads(as_json.stdout.split("Error")[0])["problem"]["record_id"] == sealed[2]
    body = client.get("/v1/sites/demo/proof/verify", headers=headers).get_json()
    assert body["ok"] is False and body["problem"]["kind"] == "record_deleted"
    with app.app_context():
        verifies = db.session.query(AccessLogEntry).filter_by(action="proof.verify").all()
        assert len(verifies) == 5
        assert {entry.actor.split(":")[0] for entry in verifies} == {"key", "cli"}


def test_verify_with_published_keys_from_a_file(app, sealed, tmp_path):
    """An auditor verifies with the seal keys they kept (`proof keys`), not the service's own: the
    kept keys pass; another service's keys name the first seal forged; a file that is no JWKS is refused."""
    runner = app.test_cli_runner()
    kept = tmp_path / "seal-keys.json"
    kept.write_text(runner.invoke(main, ["proof", "keys"]).output)
    ok = runner.invoke(main, ["proof", "verify", "--site", "demo", "--keys", str(kept)])
    assert ok.exit_code == 0 and "ok" in ok.output, ok.output
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from consent_service.compliance.seal_keys import SealVerifier

    foreign = tmp_path / "other.json"
    foreign.write_text(json.dumps(SealVerifier([Ed25519PrivateKey.generate().public_key()]).jwks()))
    forged = runner.invoke(main, ["proof", "verify", "--site", "demo", "--keys", str(foreign)])
    assert forged.exit_code == 1 and "seal_forged" in forged.output, forged.output
    broken = tmp_path / "broken.json"
    broken.write_text('{"keys": []}')
    refused = runner.invoke(main, ["proof", "verify", "--site", "demo", "--keys", str(broken)])
    assert refused.exit_code != 0 and "Traceback" not in refused.output, refused.output


def test_cli_seal(app, demo, monkeypatch):
    monkeypatch.setattr(seals, "SETTLE_SECONDS", 0)  # the records were stored a moment ago
    make_records(app, 5)
    runner = app.test_cli_runner()
    result = runner.invoke(main, ["proof", "seal", "--site", "demo", "--all-pending"])
    assert result.exit_code == 0 and "5 records sealed" in result.output
    result = runner.invoke(main, ["proof", "seal"])
    assert result.exit_code == 0 and "demo: 0 seals" in result.output
    assert runner.invoke(main, ["proof", "seal", "--site", "nope"]).exit_code != 0
    assert verify(app).ok and verify(app).sealed_records == 5


def test_empty_site_verifies(app, demo):
    report = verify(app)
    assert report.ok and report.seals == 0 and report.unsealed_records == 0
