"""Retention: records past expiry-or-withdrawal plus the site's buffer go, in whole sealed periods,
oldest first; the purge is logged and verification still passes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from consent_service.cli import main
from consent_service.compliance.retention import purge, purge_statement, retention_cutoff, sign_purge
from consent_service.extensions import db
from consent_service.models import AccessLogEntry, Seal, VisitorKey
from tests.support import services
from tests.support.compliance import NONE, check, make_records, record_ids, seal_all

OLD = datetime(2020, 1, 1, tzinfo=UTC)


def run_purge(app, now, dry_run=False):
    with app.app_context():
        site = services(app).site_states.get(db.session, "demo")
        return purge(db.session, site, services(app).seal_signer, actor="test", now=now, dry_run=dry_run)


def verify(app):
    return check(app)


def test_cutoff_uses_the_site_buffer(app, demo):
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert retention_cutoff(demo, now) == now - timedelta(days=1095)


def test_purges_whole_sealed_periods_only(app, demo):
    old = make_records(app, 6, start=OLD, step=timedelta(hours=1))  # expire 2021 (+365 days)
    make_records(app, 3, start=OLD + timedelta(days=2))             # sealed with the last two old ones
    recent = make_records(app, 2)                                   # yesterday
    seal_all(app, batch_size=4)
    with app.app_context():
        assert [s.record_count for s in db.session.query(Seal).order_by(Seal.id)] == [4, 4, 3]
    # Acceptances last 365 days: the old ones end on 2020-12-31 (00:00-05:00), the others on 2021-01-02.
    later = datetime(2021, 6, 1, tzinfo=UTC) + timedelta(days=1095)
    result = run_purge(app, later, dry_run=True)
    assert result.records == 8 and len(result.seals) == 2 and len(record_ids(app)) == 11
    # With the cutoff at 2021-01-01, only the first period is wholly past retention: the second
    # holds records that end on 2021-01-02, and the third yesterday's.
    result = run_purge(app, datetime(2021, 1, 1, tzinfo=UTC) + timedelta(days=1095))
    assert result.records == 4 and len(result.seals) == 1
    remaining = record_ids(app)
    assert remaining[0] == old[4].record_id and recent[-1].record_id in remaining and len(remaining) == 7
    report = verify(app)
    assert report.ok, report.problem
    assert (report.purged_seals, report.sealed_records, report.unsealed_records) == (1, 7, 0)
    with app.app_context():
        entry = db.session.query(AccessLogEntry).filter_by(action="purge").one()
        assert entry.rows == 4 and entry.actor == "test" and entry.details["seals"] == result.seals
        # keys of visitors with no record left are gone, others stay
        assert db.session.get(VisitorKey, old[0].visitor_id) is None
        assert db.session.get(VisitorKey, recent[0].visitor_id) is not None


def test_unsealed_and_unexpired_records_stay(app, demo):
    make_records(app, 3, start=OLD)
    result = run_purge(app, datetime(2030, 1, 1, tzinfo=UTC))
    assert result.records == 0 and len(record_ids(app)) == 3  # never sealed: never purged
    seal_all(app)
    assert run_purge(app, datetime(2022, 1, 1, tzinfo=UTC)).records == 0  # inside the buffer
    assert run_purge(app, datetime(2030, 1, 1, tzinfo=UTC)).records == 3
    assert record_ids(app) == [] and verify(app).ok


def test_withdrawal_ends_retention_early(app, demo):
    first = make_records(app, 1, start=OLD)[0]
    # The visitor withdraws a day later; its consent record then only needs the buffer from that day.
    make_records(app, 1, start=OLD + timedelta(days=1), choices=NONE, method="withdraw", token=first.token)
    seal_all(app)
    # Refusals last 182 days, acceptance 365: the withdrawal record itself ends mid-2020.
    assert run_purge(app, OLD + timedelta(days=1095 + 200)).records == 2
    assert verify(app).ok


def test_later_records_keep_the_period(app, demo):
    make_records(app, 2, start=OLD)
    make_records(app, 1, start=datetime.now(UTC) - timedelta(days=2))
    seal_all(app)
    assert run_purge(app, datetime(2026, 1, 1, tzinfo=UTC)).records == 0


def test_purge_then_tamper_is_still_detected(app, demo):
    make_records(app, 8, start=OLD, step=timedelta(days=200))
    seal_all(app, batch_size=2)
    run_purge(app, OLD + timedelta(days=1095 + 365 + 250))
    with app.app_context():
        purged = db.session.query(Seal).filter(Seal.purged_at.is_not(None)).count()
        assert purged >= 1
        live = db.session.query(Seal).filter(Seal.purged_at.is_(None)).order_by(Seal.id).first()
    assert verify(app).ok
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(db.text("DELETE FROM consent_records WHERE id = :id"), {"id": live.first_record_id})
    assert verify(app).problem.kind == "record_deleted"


def test_marking_a_later_seal_purged_is_detected(app, demo):
    make_records(app, 4, start=OLD)
    seal_all(app, batch_size=2)
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(db.text("UPDATE seals SET purged_at = created_at WHERE id = (SELECT max(id) FROM seals)"))
        connection.execute(db.text("DELETE FROM consent_records WHERE id = (SELECT max(id) FROM consent_records)"))
    report = verify(app)
    assert not report.ok and report.problem.kind == "purge_out_of_order"


def test_cli_purge(app, demo):
    make_records(app, 2, start=OLD)
    seal_all(app)
    runner = app.test_cli_runner()
    dry = runner.invoke(main, ["purge", "--site", "demo", "--dry-run"])
    assert dry.exit_code == 0 and "would remove 2 records" in dry.output and len(record_ids(app)) == 2
    done = runner.invoke(main, ["purge", "--site", "demo"])
    assert done.exit_code == 0 and "removed 2 records in 1 sealed periods" in done.output
    assert record_ids(app) == [] and verify(app).ok
    assert runner.invoke(main, ["purge", "--site", "nope"]).exit_code != 0
    with app.app_context():
        assert db.session.query(AccessLogEntry).filter_by(action="purge").one().actor.startswith("cli")


def test_a_genuine_purge_is_signed_and_cannot_be_moved(app, demo):
    """The purge marker is signed with the seal key and names its seal: copied onto another
    period (whose records the intruder then deletes) it proves nothing."""
    make_records(app, 2, start=OLD)
    make_records(app, 2, start=OLD + timedelta(days=400))
    seal_all(app, batch_size=2)
    assert run_purge(app, OLD + timedelta(days=1095 + 366)).records == 2
    with app.app_context():
        purged, live = db.session.query(Seal).order_by(Seal.id).all()
        marker = json.loads(purged.purge_marker)
        assert marker["statement"]["seal_digest"] == purged.digest and marker["statement"]["buffer_days"] == 1095
        assert marker["key_id"] == services(app).seal_signer.kid
    assert verify(app).ok
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(db.text("UPDATE seals SET purged_at = :at, purge_marker = :marker WHERE id = :id"),
                           {"at": purged.purged_at, "marker": purged.purge_marker, "id": live.id})
        connection.execute(db.text("DELETE FROM consent_records"))
    report = verify(app)
    assert report.problem.kind == "purge_forged" and report.problem.seal_id == live.id
    assert "another seal" in report.problem.message


def test_a_purge_before_retention_ended_is_named(app, demo):
    """Verification checks the purged period was past its retention, from the signed statements."""
    make_records(app, 2, start=OLD)
    seal_all(app)
    signer = services(app).seal_signer
    with app.app_context():
        seal = db.session.query(Seal).one()
        early = datetime(2021, 1, 1, tzinfo=UTC)  # the records expire at the end of 2020, plus 1095 days
        cutoff = early - timedelta(days=1095)
        statement = purge_statement(seal, early, cutoff, 1095, seal.expires_through)
        seal.purged_at, seal.purge_marker = early, sign_purge(signer, statement)
        db.session.commit()
    report = verify(app)
    assert report.problem.kind == "purge_premature" and "retention ran until" in report.problem.message
