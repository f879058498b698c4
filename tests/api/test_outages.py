"""A lost database: one answer (503 database_unavailable, Retry-After, CORS for the site's origins)
on every route and in every phase of the outage, one log line when it starts and one when it ends,
and nothing acknowledged lost."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from consent_service.extensions import db
from tests.support import DEMO_ORIGIN, count_records, sync_demo
from tests.support.compliance import bearer

URL = "/v1/sites/demo/consents"
CORS = {"Origin": DEMO_ORIGIN}


class DatabaseSwitch:
    """Makes an app's database refuse every new connection, as a stopped server does, and drops
    the connections it holds."""

    def __init__(self, app):
        with app.app_context():
            self.engine = db.engine
        self.down = False
        sa.event.listen(self.engine, "do_connect", self._connect)

    def _connect(self, dialect, _record, _cargs, _cparams):
        if self.down:
            raise dialect.loaded_dbapi.OperationalError("connection refused (the test's outage)")

    def cut(self):
        self.down = True
        self.engine.dispose()  # pooled connections and the record store's writers go too

    def restore(self):
        self.down = False


def assert_unavailable(response, cors=True):
    assert response.status_code == 503, (response.status_code, response.get_data(as_text=True))
    assert response.get_json()["error"]["code"] == "database_unavailable"
    assert response.headers["Retry-After"] == "5"
    if cors:
        assert response.headers["Access-Control-Allow-Origin"] == DEMO_ORIGIN


def test_a_lost_database_is_one_answer_on_every_route(make_app, consent_body, caplog):
    app = make_app()
    sync_demo(app)
    client = app.test_client()
    read, export, admin = bearer(app, "read"), bearer(app, "export"), bearer(app, "admin")
    first = client.post(URL, json=consent_body(), headers=CORS).get_json()
    visitor = f"/v1/sites/demo/visitors/{first['visitor_id']}/consent"
    mine = {"X-Consent-Token": first["token"], **CORS}
    for headers in (read, export, admin):  # each key is verified (and remembered) before the outage
        client.get("/v1/sites/demo/stats", headers=headers)
    switch = DatabaseSwitch(app)
    cold = make_app()  # a process that has never loaded the site: it cannot know its origins
    DatabaseSwitch(cold).cut()
    switch.cut()
    with caplog.at_level(logging.INFO):
        for _ in range(3):  # past the site cache: every phase of the outage answers alike
            assert_unavailable(client.post(URL, json=consent_body(client_record_id="outage-record-0001"),
                                            headers=CORS))
        assert_unavailable(client.get("/v1/sites/demo/visitors/me/consents", headers=mine))
        assert_unavailable(client.delete("/v1/sites/demo/visitors/me/personal-data", headers=mine))
        preflight = client.options(URL, headers={**CORS, "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == DEMO_ORIGIN
        assert client.get("/v1/sites/demo/banner.js").status_code == 200
        assert client.get("/v1/sites/demo/config").status_code == 200
        assert_unavailable(client.get(visitor, headers=read), cors=False)
        for path, headers in (("exports/consents", export), ("exports/consents?format=csv", export),
                              ("stats", read), ("proof/verify", export), ("access-log", admin),
                              ("access-log?format=csv", admin)):
            path = f"/v1/sites/demo/{path}"
            assert_unavailable(client.get(path, headers=headers), cors=False)
        assert client.get("/readyz").status_code == 503
        assert_unavailable(cold.test_client().post(URL, json=consent_body(), headers=CORS), cors=False)
        switch.restore()
        again = client.post(URL, json=consent_body(client_record_id="outage-record-0001"), headers=CORS)
        assert again.status_code == 201
    messages = [(r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("consent_service")]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    outage = [m for level, m in messages if m.startswith("database unavailable")]
    assert len(outage) == 2, messages  # one per process (the app and the cold one), not one per request
    assert any(m.startswith("database answers again") for _, m in messages)
    assert count_records(app) == 2


@pytest.mark.postgres_only
def test_terminated_sessions_lose_nothing(make_app, consent_body, migrated_url):
    """PostgreSQL ends every session of the service (a fail-over, an operator's terminate): a
    write with a client_record_id is run again on a fresh connection, a 503 at worst, and the
    banner's resend stores it once."""
    import psycopg

    app = make_app()
    sync_demo(app)
    client = app.test_client()
    read = bearer(app, "read")
    first = client.post(URL, json=consent_body(), headers=CORS).get_json()
    name = migrated_url.rsplit("/", 1)[1]
    answers = []
    for index in range(5):
        with psycopg.connect(migrated_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        body = consent_body(client_record_id=f"terminated-{index:08d}", token=first["token"])
        for _ in range(5):  # as the banner's queue does: resend until acknowledged
            response = client.post(URL, json=body, headers=CORS)
            answers.append(response.status_code)
            if response.status_code < 300:
                break
            assert_unavailable(response)
        assert response.status_code in (200, 201)
        current = client.get(f"/v1/sites/demo/visitors/{first['visitor_id']}/consent", headers=read)
        assert current.status_code in (200, 503)
    assert count_records(app) == 6
    assert set(answers) <= {201, 200, 503}


@pytest.mark.postgres_only
def test_a_session_lost_after_its_last_statement_does_not_spoil_the_answer(make_app, consent_body, migrated_url):
    """The database goes away between a request's last statement and its end: the answer stands
    (Flask-SQLAlchemy's teardown would raise, and the server answer a bare 500)."""
    import psycopg

    app = make_app()
    sync_demo(app)

    @app.after_request
    def lose_the_session(response):
        pid = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with psycopg.connect(migrated_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        return response

    response = app.test_client().post(URL, json=consent_body(), headers=CORS)
    assert response.status_code == 201 and response.headers["Access-Control-Allow-Origin"] == DEMO_ORIGIN
    assert count_records(app) == 1
