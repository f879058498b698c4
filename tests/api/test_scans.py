"""The scan history for admins: GET /v1/sites/<site>/scans (newest first, a page at a time) and
/scans/<id> (the report, what changed since the previous scan, the HTML report), admin scope only,
every read logged, every bad request a 4xx with a stable code that changes nothing."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import sqlalchemy as sa

from consent_service.compliance.scans import store_scan
from consent_service.extensions import db
from consent_service.models import AccessLogEntry, Scan
from consent_service.scan import ACCEPT, BEFORE, REJECT, render_html, to_json
from consent_service.sites.declaration import load_site_file
from tests.support import DEMO_ORIGIN, DEMO_TOML, sync_demo, sync_site
from tests.support.compliance import assert_refused, bearer
from tests.support.scans import HOSTILE, scan_result

PAGE = DEMO_ORIGIN + "/"
LIST = "/v1/sites/demo/scans"


def store(app: Any, cookies: list[tuple[str, str]], started_at: float, *, html: bool = True) -> str:
    with app.app_context():
        shared = app.extensions["consent"]
        config = shared.site_states.get(db.session, "demo").banner_config(
            "https://consent.example", shared.keys(db.session, "demo").public.inline())
        result = scan_result(config, cookies, started_at)
        scan = store_scan(db.session, "demo", to_json(result, config), actor="cli:tester",
                          html=render_html(result, config) if html else None)
        return scan.id


@pytest.fixture
def history(app: Any, demo: Any) -> list[str]:
    """Three scans of the demo shop, oldest first: a tracker appears, then is fixed."""
    clean = [("session", BEFORE), ("consent", REJECT), ("consent", ACCEPT), ("_ga", ACCEPT)]
    return [store(app, clean, 1_800_000_000.0),
            store(app, [*clean, ("_fbp", BEFORE), ("_fbp", REJECT)], 1_800_086_400.0),
            store(app, clean, 1_800_172_800.0, html=False)]


def scans_in_database(app: Any) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(Scan)).scalar_one()


def test_list_is_newest_first_with_counts_and_changes(app: Any, client: Any, history: list[str]) -> None:
    response = client.get(LIST, headers=bearer(app, "admin"))
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert [scan["id"] for scan in body["scans"]] == history[::-1]
    assert body["next"] is None and body["next_before"] is None
    newest, middle, oldest = body["scans"]
    assert middle["exit_code"] == 1 and not middle["clean"] and middle["actor"] == "cli:tester"
    assert middle["scanned_at"] == "2027-01-16T08:00:00Z" and middle["policy_version"] == 1
    assert middle["findings"]["by_kind"]["undeclared"] == 1 and middle["cookies"][BEFORE] == 2
    assert middle["start_urls"] == [PAGE]
    assert middle["changes"] == {"previous_id": history[0], "changed": True, "cookies_added": 2,
                                 "cookies_removed": 0, "storage_added": 0, "storage_removed": 0,
                                 "findings_new": 3, "findings_resolved": 0}
    assert newest["changes"]["cookies_removed"] == 2 and newest["changes"]["findings_resolved"] == 3
    assert oldest["changes"]["previous_id"] is None
    assert "report" not in middle and "diff" not in middle  # the list is light


def test_pages_follow_next(app: Any, client: Any, history: list[str]) -> None:
    headers = bearer(app, "admin")
    first = client.get(LIST + "?limit=2", headers=headers).get_json()
    assert [s["id"] for s in first["scans"]] == [history[2], history[1]]
    assert first["next_before"] == history[1] and first["next"].startswith(LIST + "?")
    second = client.get(first["next"], headers=headers).get_json()
    assert [s["id"] for s in second["scans"]] == [history[0]] and second["next"] is None


def test_detail_has_the_report_and_the_diff(app: Any, client: Any, history: list[str]) -> None:
    body = client.get(f"{LIST}/{history[1]}", headers=bearer(app, "admin")).get_json()
    assert body["id"] == history[1] and body["report"]["format"] == "consent-scan/1"
    assert {(c["name"], c["state"]) for c in body["diff"]["cookies"]["added"]} == {("_fbp", BEFORE), ("_fbp", REJECT)}
    assert {(f["kind"], f["name"]) for f in body["diff"]["findings"]["new"]} == {
        ("undeclared", "_fbp"), ("before_consent", "_fbp"), ("after_refusal", "_fbp")}
    assert body["diff"]["previous_scanned_at"] == "2027-01-15T08:00:00Z"
    fixed = client.get(f"{LIST}/{history[2]}", headers=bearer(app, "admin")).get_json()
    assert {f["name"] for f in fixed["diff"]["findings"]["resolved"]} == {"_fbp"}


def test_the_html_report_is_served_inert(app: Any, client: Any, history: list[str]) -> None:
    response = client.get(f"{LIST}/{history[1]}?format=html", headers=bearer(app, "admin"))
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    page = response.get_data(as_text=True)
    assert "<h1>Cookie scan of demo" in page and HOSTILE not in page and "&lt;img src=x" in page
    assert_refused(client, f"{LIST}/{history[2]}?format=html", bearer(app, "admin"), "no_html_report")


def test_reads_are_logged_with_the_key(app: Any, client: Any, history: list[str]) -> None:
    headers = bearer(app, "admin")
    client.get(LIST + "?limit=2", headers=headers)
    client.get(f"{LIST}/{history[0]}", headers=headers)
    with app.app_context():
        entries = {e.action: e for e in db.session.execute(sa.select(AccessLogEntry)).scalars()}
    assert entries["scan.list"].actor.startswith("key:") and entries["scan.list"].rows == 2
    assert entries["scan.read"].details == {"scan_id": history[0], "format": "json"}
    assert entries["scan.store"].actor == "cli:tester"


def test_admin_scope_only(app: Any, client: Any, history: list[str]) -> None:
    assert_refused(client, LIST, {}, "missing_api_key")
    assert_refused(client, LIST, {"Authorization": "Bearer csk_nope_nope"}, "invalid_api_key")
    for scope in ("read", "export"):
        assert_refused(client, LIST, bearer(app, scope), "insufficient_scope")
        assert_refused(client, f"{LIST}/{history[0]}", bearer(app, scope), "insufficient_scope")


def test_another_sites_key_and_scans_stay_apart(app: Any, client: Any, history: list[str]) -> None:
    sync_site(app, dataclasses.replace(load_site_file(DEMO_TOML), site_id="other"))
    other_key = bearer(app, "admin", site="other")
    assert_refused(client, LIST, other_key, "wrong_site")
    # The other site's admin cannot read demo's scan through its own URL either.
    assert_refused(client, f"/v1/sites/other/scans/{history[0]}", other_key, "unknown_scan")
    assert client.get("/v1/sites/other/scans", headers=other_key).get_json()["scans"] == []


@pytest.mark.parametrize(("url", "code"), [
    (f"{LIST}/not-a-scan-id", "invalid_scan_id"),
    (f"{LIST}/01jaaaaaaaaaaaaaaaaaaaaaaa", "invalid_scan_id"),
    (f"{LIST}/{'0' * 27}", "invalid_scan_id"),
    (f"{LIST}/{HOSTILE}", "invalid_scan_id"),
    (f"{LIST}/01JAAAAAAAAAAAAAAAAAAAAAAA", "unknown_scan"),
    (f"{LIST}/01JAAAAAAAAAAAAAAAAAAAAAAA?format=pdf", "unsupported_format"),
    (f"{LIST}/01JAAAAAAAAAAAAAAAAAAAAAAA?fromat=html", "unknown_parameter"),
    (f"{LIST}?limit=0", "invalid_filter"),
    (f"{LIST}?limit=101", "invalid_filter"),
    (f"{LIST}?limit=-1", "invalid_filter"),
    (f"{LIST}?limit=1e3", "invalid_filter"),
    (f"{LIST}?limit=%EF%BC%92", "invalid_filter"),  # a full-width digit
    (f"{LIST}?limit=99999999999999999999", "invalid_filter"),
    (f"{LIST}?before=yesterday", "invalid_filter"),
    (f"{LIST}?page=2", "unknown_parameter"),
    ("/v1/sites/Nope!/scans", "wrong_site"),
])
def test_bad_requests_are_4xx_with_stable_codes_and_change_nothing(app: Any, client: Any, history: list[str],
                                                                   url: str, code: str) -> None:
    assert_refused(client, url, bearer(app, "admin"), code)
    assert scans_in_database(app) == 3


def test_a_report_that_is_not_one_is_not_stored(app: Any) -> None:
    sync_demo(app)
    with app.app_context(), pytest.raises(ValueError, match="consent-scan/1"):
        store_scan(db.session, "demo", {"format": "something else", "summary": {}}, actor="cli:x")
    assert scans_in_database(app) == 0
