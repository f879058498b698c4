"""The access log: every export, verify, purge, erasure, key change and access-log export is
recorded (actor, time, action, filters, rows); admins export it as NDJSON or CSV; the API offers no
way to change it."""

from __future__ import annotations

import csv
import io
import json

import pytest

from consent_service.cli import main
from consent_service.extensions import db
from consent_service.models import AccessLogEntry
from tests.support.compliance import assert_refused, bearer, make_records

URL = "/v1/sites/demo/access-log"


def entries(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]


def test_actions_are_logged_and_exported(app, client, demo):
    make_records(app, 3)
    runner = app.test_cli_runner()
    runner.invoke(main, ["keys", "create", "--site", "demo", "--scope", "read"])
    export_key = bearer(app, "export")
    client.get("/v1/sites/demo/exports/consents?method=custom", headers=export_key).get_data()
    client.get("/v1/sites/demo/proof/verify", headers=export_key)
    runner.invoke(main, ["purge", "--site", "demo"])  # nothing to purge: logged only when it removes
    admin = bearer(app, "admin")
    logged = entries(client.get(URL, headers=admin))
    assert [e["action"] for e in logged] == ["key.create", "export", "proof.verify"]
    export = logged[1]
    assert export["actor"].startswith("key:") and export["rows"] == 3
    assert export["details"]["filters"]["method"] == "custom" and export["created_at"].endswith("Z")
    assert set(export) == {"id", "created_at", "site_id", "actor", "action", "rows", "details"}
    # the access-log export is itself logged
    again = entries(client.get(URL, headers=admin))
    assert again[-1]["action"] == "access_log.export" and again[-1]["rows"] == 3


def test_csv_and_filters(app, client, demo):
    with app.app_context():
        from consent_service.compliance.access_log import log_access

        for action in ("export", "proof.verify", "export"):
            log_access(db.session, site_id="demo", actor="cli:test", action=action, details={"x": "=1"})
        log_access(db.session, site_id="other", actor="cli:test", action="export")
    admin = bearer(app, "admin")
    response = client.get(URL + "?format=csv&action=export", headers=admin)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["id", "created_at", "site_id", "actor", "action", "rows", "details"]
    assert len(rows) == 3 and {row[4] for row in rows[1:]} == {"export"}
    assert json.loads(rows[1][6]) == {"x": "=1"}
    assert entries(client.get(URL + "?since=2999-01-01", headers=admin)) == []
    assert len(entries(client.get(URL + "?until=2999-01-01", headers=admin))) == 5  # 3 + 2 exports


@pytest.mark.parametrize("query, code", [
    ("since=nope", "invalid_filter"), ("since=2025-02-01&until=2025-01-01", "invalid_range"),
    ("since=0001-01-01T00:00:00%2B01:00", "invalid_filter"), ("until=9999-12-31T23:59:59-01:00", "invalid_filter"),
    ("format=pdf", "unsupported_format"), ("action=%27;drop", "invalid_filter"),
    ("action=" + "a" * 50, "invalid_filter"),
    ("page=2", "unknown_parameter"),
])
def test_bad_filters(app, client, demo, query, code):
    assert_refused(client, f"{URL}?{query}", bearer(app, "admin"), code)


def test_admin_scope_only_and_append_only(app, client, demo):
    assert client.get(URL).status_code == 401
    assert client.get(URL, headers=bearer(app, "export")).status_code == 403
    assert client.get(URL, headers=bearer(app, "read")).status_code == 403
    assert client.get("/v1/sites/other/access-log", headers=bearer(app, "admin")).status_code == 403
    admin = bearer(app, "admin")
    for method in ("post", "put", "patch", "delete"):
        assert getattr(client, method)(URL, headers=admin).status_code == 405
    with app.app_context():
        assert db.session.query(AccessLogEntry).filter(AccessLogEntry.action != "access_log.export").count() == 0
