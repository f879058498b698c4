"""PostgreSQL's write path for choices: one long-lived autocommit connection per thread, which
must survive losing its session and must keep finding replays through the unique index."""

from __future__ import annotations

import psycopg
import pytest
from support import DEMO_ORIGIN, count_records

from consent_service.extensions import db
from consent_service.record_store import _writers

pytestmark = pytest.mark.postgres_only
URL = "/v1/sites/demo/consents"
HEADERS = {"Origin": DEMO_ORIGIN, "User-Agent": "Mozilla/5.0 TestBrowser"}


def writer(app):
    with app.app_context():
        return _writers.get(db.engine)


def test_a_lost_writer_session_is_a_retryable_503_and_the_next_write_reconnects(app, client, demo,
                                                                                 consent_body, migrated_url):
    assert client.post(URL, json=consent_body(), headers=HEADERS).status_code == 201
    lost = writer(app)
    with psycopg.connect(migrated_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (lost.info.backend_pid,))

    failed = client.post(URL, json=consent_body(client_record_id="queued-choice-0001"), headers=HEADERS)
    assert failed.status_code == 503
    assert failed.get_json()["error"]["code"] == "database_unavailable"
    assert failed.headers["Retry-After"] == "5"
    assert failed.headers["Access-Control-Allow-Origin"] == DEMO_ORIGIN  # the banner can read it
    assert count_records(app) == 1

    resent = client.post(URL, json=consent_body(client_record_id="queued-choice-0001"), headers=HEADERS)
    assert resent.status_code == 201
    assert writer(app) is not lost
    assert count_records(app) == 2


def test_writer_plans_with_real_values_so_replays_stay_on_the_unique_index(app, client, demo, consent_body):
    # A generic plan made while the table is small looks replays up by scanning the site's records.
    for n in range(8):  # past psycopg's prepare threshold
        body = consent_body(client_record_id=f"plan-check-{n:06d}")
        assert client.post(URL, json=body, headers=HEADERS).status_code == 201
    assert writer(app).execute("SHOW plan_cache_mode").fetchone()[0] == "force_custom_plan"
    replay = client.post(URL, json=consent_body(client_record_id="plan-check-000003"), headers=HEADERS)
    assert replay.status_code == 200
    assert count_records(app) == 8


def test_disposing_the_engine_closes_its_writers(app, client, demo, consent_body):
    assert client.post(URL, json=consent_body(), headers=HEADERS).status_code == 201
    connection = writer(app)
    with app.app_context():
        db.engine.dispose()
    assert connection.closed
    assert client.post(URL, json=consent_body(), headers=HEADERS).status_code == 201
    assert not writer(app).closed
