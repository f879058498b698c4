"""PostgreSQL's write path for choices: one long-lived autocommit connection per thread, which
must survive losing its session, and prepared statements whose plans cannot go bad."""

from __future__ import annotations

import re

import psycopg
import pytest
import sqlalchemy as sa

from consent_service.consents.store import _statements
from consent_service.extensions import db
from consent_service.models import VisitorKey
from tests.support import DEMO_ORIGIN, count_records, services

pytestmark = pytest.mark.postgres_only
URL = "/v1/sites/demo/consents"
HEADERS = {"Origin": DEMO_ORIGIN, "User-Agent": "Mozilla/5.0 TestBrowser"}


def writer(app):
    """This thread's writer connection for the app's engine, without opening one (None if none)."""
    with app.app_context():
        held = services(app).record_store.writers._held().get(db.engine)
    return held[1] if held else None


def test_a_lost_writer_session_is_a_retryable_503_and_the_next_write_reconnects(app, client, demo,
                                                                                 consent_body, migrated_url):
    assert client.post(URL, json=consent_body(), headers=HEADERS).status_code == 201
    lost = writer(app)
    assert lost is not None
    with psycopg.connect(migrated_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (lost.info.backend_pid,))

    # Without a client_record_id the insert is not run twice (it may have committed before the
    # session died): a 503 the caller may retry.
    failed = client.post(URL, json=consent_body(), headers=HEADERS)
    assert failed.status_code == 503
    assert failed.get_json()["error"]["code"] == "database_unavailable"
    assert failed.headers["Retry-After"] == "5"
    assert failed.headers["Access-Control-Allow-Origin"] == DEMO_ORIGIN  # the banner can read it
    assert count_records(app) == 1

    resent = client.post(URL, json=consent_body(), headers=HEADERS)
    assert resent.status_code == 201
    assert writer(app) is not lost and not writer(app).closed
    assert count_records(app) == 2


def test_a_lost_writer_session_is_replaced_at_once_for_an_idempotent_write(app, client, demo, consent_body,
                                                                          migrated_url):
    """With a client_record_id (the banner always sends one) running the insert twice stores it
    once, so the write goes again on a fresh connection instead of answering 503."""
    assert client.post(URL, json=consent_body(), headers=HEADERS).status_code == 201
    with psycopg.connect(migrated_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (writer(app).info.backend_pid,))
    body = consent_body(client_record_id="queued-choice-0001")
    assert client.post(URL, json=body, headers=HEADERS).status_code == 201
    assert client.post(URL, json=body, headers=HEADERS).status_code == 200
    assert count_records(app) == 2


WRITES = ["insert_key_and_record", "insert_key_and_record_idempotent", "insert_record", "insert_record_idempotent"]


@pytest.mark.parametrize("name", WRITES)
def test_no_plan_of_a_write_reads_the_records_table(migrated_url, name):
    """psycopg prepares statements, and PostgreSQL may keep a generic plan made while the table was
    small. A write that looked anything up in consent_records could then scan a site's records."""
    names: list[str] = []

    def positional(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    sql = re.sub(r"%\((\w+)\)s", positional, _statements("postgresql")[name + "_sql"])
    with psycopg.connect(migrated_url) as connection:
        connection.execute("SET plan_cache_mode = force_generic_plan")
        connection.execute(f"PREPARE write AS {sql}")
        plan = "\n".join(row[0] for row in connection.execute(
            f"EXPLAIN EXECUTE write({', '.join(['NULL'] * len(names))})"))
    assert "Insert on consent_records" in plan
    assert not re.search(r"Scan\b.*\bon consent_records\b", plan), plan


def test_a_replay_on_the_writer_connection_stores_nothing_new(app, client, demo, consent_body):
    for n in range(8):  # past psycopg's prepare threshold: the prepared statements answer
        body = consent_body(client_record_id=f"plan-check-{n:06d}")
        assert client.post(URL, json=body, headers=HEADERS).status_code == 201
    replay = client.post(URL, json=consent_body(client_record_id="plan-check-000003"), headers=HEADERS)
    assert replay.status_code == 200
    assert count_records(app) == 8
    with app.app_context():  # a replay without a token minted a visitor id, but wrote no key for it
        assert db.session.execute(sa.select(sa.func.count()).select_from(VisitorKey)).scalar() == 8


def test_disposing_the_engine_closes_its_writers(app, client, demo, consent_body):
    assert client.post(URL, json=consent_body(), headers=HEADERS).status_code == 201
    connection = writer(app)
    with app.app_context():
        db.engine.dispose()
    assert connection.closed
    assert client.post(URL, json=consent_body(), headers=HEADERS).status_code == 201
    assert writer(app) is not connection and not writer(app).closed


def test_a_forked_process_neither_uses_nor_closes_its_parents_writer(app, client, demo, consent_body):
    assert client.post(URL, json=consent_body(), headers=HEADERS).status_code == 201
    with app.app_context():
        engine = db.engine
    writers = services(app).record_store.writers
    pid, parents, opened = writers._held()[engine]
    writers._held()[engine] = (pid + 1, parents, opened)  # as a forked child sees its parent's writer
    try:
        assert client.post(URL, json=consent_body(), headers=HEADERS).status_code == 201
        own = writer(app)
        assert own is not parents and not parents.closed
        with app.app_context():
            db.engine.dispose()
        assert own.closed and not parents.closed  # disposing closes only this process's writers
    finally:
        writers._inherited.remove(parents)
        parents.close()
