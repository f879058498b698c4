"""`consent-service scan` against the fixture shop: exit status 0 (a clean shop), 1 (findings at error
level) and 2 (it could not run), the reports it writes, the scan it stores with what changed since
the previous one, the access-log entry that says who ran it, and the runs that store nothing
(--service, --no-store)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, Response

from consent_service.app import create_app
from consent_service.cli import main
from consent_service.extensions import db
from consent_service.models import AccessLogEntry, Scan
from consent_service.sites.declaration import parse_declaration
from consent_service.sites.sync import sync_declarations
from tests.support import sync_demo
from tests.support.browser import ServerThread
from tests.support.scans import scan_result

from .conftest import ScanSite
from .site import SITE_ID, VALUE, declaration

CLEAN_SITE = "scanclean"


def invoke(env: dict[str, str], *args: str) -> Any:
    """The command as an operator runs it, on the service's database, in a thread of its own (the
    scan starts its own Playwright)."""
    app = create_app(env=env)
    runner = app.test_cli_runner()
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="scan-cli") as pool:
            return pool.submit(runner.invoke, main, list(args)).result(timeout=600)
    finally:
        with app.app_context():
            db.engine.dispose()


def stored(env: dict[str, str], site_id: str) -> list[Scan]:
    app = create_app(env=env)
    with app.app_context():
        scans = list(db.session.execute(sa.select(Scan).where(Scan.site_id == site_id).order_by(Scan.id)).scalars())
        for scan in scans:
            _ = scan.document, scan.changes, scan.report_html
        db.session.expunge_all()
        db.engine.dispose()
    return scans


def logged(env: dict[str, str], site_id: str, action: str) -> list[AccessLogEntry]:
    app = create_app(env=env)
    with app.app_context():
        entries = list(db.session.execute(sa.select(AccessLogEntry).where(
            AccessLogEntry.site_id == site_id, AccessLogEntry.action == action)).scalars())
        db.session.expunge_all()
        db.engine.dispose()
    return entries


# ------------------------------------------------------- the command's own work, without a browser


@pytest.fixture
def canned(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The scan replaced by finished results (the demo shop's home page), one per run; records
    what each run was asked to do."""
    calls: list[dict[str, Any]] = []
    runs = iter([[("session", "before"), ("_fbp", "before")], [("session", "before")]])

    def fake_scan(start_urls: list[str], *, config: dict[str, Any], **options: Any) -> Any:
        calls.append({"start_urls": start_urls, "config": config, **options})
        return scan_result(config, next(runs), 1_800_000_000.0 + 86400 * len(calls))

    monkeypatch.setattr("consent_service.cli.scan.scan", fake_scan)
    return calls


def test_the_site_settings_drive_the_scan_and_the_summary_names_changes(app: Any, demo: Any,
                                                                        canned: list[dict[str, Any]]) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(main, ["scan", "--site", "demo"])
    assert first.exit_code == 1, first.output
    (call,) = canned
    assert call["start_urls"] == ["http://127.0.0.1:8000/"] and call["max_pages"] == 20
    assert call["interactions"] == demo.settings["scan"]["interactions"]
    assert call["config"]["site"] == "demo"
    assert call["config"]["service"] == app.extensions["consent"].settings.public_url
    assert "findings: 3 errors" in first.stdout and "this is the site's first stored scan" in first.stdout
    second = runner.invoke(main, ["scan", "--site", "demo", "--max-pages", "3", "http://127.0.0.1:8000/a"])
    assert second.exit_code == 1 and canned[1]["max_pages"] == 3
    assert canned[1]["start_urls"] == ["http://127.0.0.1:8000/a"]
    assert "0 items added, 1 removed; 0 findings new, 2 resolved" in second.stdout
    assert "  - cookie _fbp (127.0.0.1), before" in second.stdout
    with app.app_context():
        assert [s.exit_code for s in db.session.execute(sa.select(Scan).order_by(Scan.id)).scalars()] == [1, 1]


def test_a_scan_that_cannot_be_stored_is_status_2(app: Any, demo: Any, canned: list[dict[str, Any]],
                                                  monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise sa.exc.OperationalError("INSERT INTO scans", {}, Exception("no such table: scans"))

    monkeypatch.setattr("consent_service.cli.scan.store_scan", broken)
    report = tmp_path / "scan.json"
    result = app.test_cli_runner().invoke(main, ["scan", "--site", "demo", "--json", str(report)])
    assert result.exit_code == 2 and "the scan ran but could not be stored" in result.stderr
    assert "findings: 3 errors" in result.stdout and report.exists()  # nothing the scan found is lost


def test_public_url_names_the_service(make_app: Any, canned: list[dict[str, Any]]) -> None:
    app = make_app(PUBLIC_URL="https://consent.example/")
    sync_demo(app)
    assert app.test_cli_runner().invoke(main, ["scan", "--site", "demo", "--no-store"]).exit_code == 1
    assert canned[0]["config"]["service"] == "https://consent.example"


# --------------------------------------------------------------------- could not run: status 2


def test_unknown_site_is_status_2_with_the_reason(scan_site: ScanSite) -> None:
    result = invoke(scan_site.env, "scan", "--site", "nope")
    assert result.exit_code == 2
    assert "unknown site 'nope'" in result.stderr and "sites sync" in result.stderr
    assert result.stdout == ""


def test_no_browser_is_status_2_and_nothing_is_stored(scan_site: ScanSite, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHROMIUM", "/nonexistent/chromium")
    before = len(stored(scan_site.env, SITE_ID))
    result = invoke(scan_site.env, "scan", "--site", SITE_ID)
    assert result.exit_code == 2
    assert "no browser: Chromium not found at /nonexistent/chromium" in result.stderr
    assert len(stored(scan_site.env, SITE_ID)) == before


def test_an_unwritable_report_path_stops_before_scanning(scan_site: ScanSite, tmp_path: Any) -> None:
    result = invoke(scan_site.env, "scan", "--site", SITE_ID, "--json", str(tmp_path / "missing" / "scan.json"))
    assert result.exit_code == 2 and "--json" in result.stderr and "cannot write" in result.stderr
    result = invoke(scan_site.env, "scan", "--site", SITE_ID, "--html", str(tmp_path))
    assert result.exit_code == 2 and "--html" in result.stderr


def test_bad_arguments_are_status_2(scan_site: ScanSite) -> None:
    assert invoke(scan_site.env, "scan", "--site", SITE_ID, "--max-pages", "0").exit_code == 2
    remote = invoke(scan_site.env, "scan", "--site", SITE_ID, "--service", scan_site.service_url)
    assert remote.exit_code == 2 and "give the start URLs" in remote.stderr


def test_an_unreachable_service_is_status_2(scan_site: ScanSite) -> None:
    result = invoke(scan_site.env, "scan", "--site", SITE_ID, "--service", "http://127.0.0.1:9",
                    scan_site.start)
    assert result.exit_code == 2 and "cannot reach the consent service" in result.stderr


@pytest.mark.slow
def test_an_unreachable_start_url_is_status_2(scan_site: ScanSite, chromium: str) -> None:
    before = len(stored(scan_site.env, SITE_ID))
    result = invoke(scan_site.env, "scan", "--site", SITE_ID, "http://127.0.0.1:9/")
    assert result.exit_code == 2 and "cannot reach http://127.0.0.1:9/" in result.stderr
    assert len(stored(scan_site.env, SITE_ID)) == before


# ------------------------------------------------------------------ findings: status 1, history


@pytest.mark.slow
def test_findings_are_status_1_written_stored_and_compared(scan_site: ScanSite, chromium: str, tmp_path: Any) -> None:
    json_path, html_path = tmp_path / "scan.json", tmp_path / "scan.html"
    before = len(stored(scan_site.env, SITE_ID))
    # The site's [scan] table gives the start URL, the page cap and the add-to-cart interaction.
    first = invoke(scan_site.env, "scan", "--site", SITE_ID, "--json", str(json_path), "--html", str(html_path))
    assert first.exit_code == 1, first.output
    assert "pages x states" in first.stderr  # the progress bar
    assert f"scan of {SITE_ID}: 5 pages x 3 states" in first.stdout
    assert "errors" in first.stdout and "before_consent" in first.stdout and "undeclared" in first.stdout
    document = json.loads(json_path.read_text(encoding="utf-8"))
    assert document["summary"]["exit_code"] == 1
    assert any(c["name"] == "cart" and c["set_by"].endswith("/cart/add") for c in document["cookies"])
    assert "<h1>Cookie scan of scanfix" in html_path.read_text(encoding="utf-8")
    assert VALUE not in json_path.read_text(encoding="utf-8") + first.output

    scans = stored(scan_site.env, SITE_ID)
    assert len(scans) == before + 1
    scan = scans[-1]
    assert f"stored as scan {scan.id}" in first.stdout
    assert scan.exit_code == 1 and scan.actor.startswith("cli") and scan.policy_version == 1
    assert scan.document["findings"] == document["findings"] and scan.document["cookies"] == document["cookies"]
    assert scan.summary["findings"]["error"] == document["summary"]["findings"]["error"]
    assert scan.summary["start_urls"] == [scan_site.start]
    assert scan.report_html is not None
    entry = [e for e in logged(scan_site.env, SITE_ID, "scan.store") if e.details["scan_id"] == scan.id]
    assert len(entry) == 1 and entry[0].actor == scan.actor and entry[0].details["exit_code"] == 1

    # A narrower scan afterwards: what the other pages set is gone, and the command says so.
    # Against a service's public configuration: the start URL is given, nothing is stored.
    remote_json = tmp_path / "remote.json"
    remote = invoke(scan_site.env, "scan", "--site", SITE_ID, "--service", scan_site.service_url, "--max-pages", "1",
                    "--json", str(remote_json), scan_site.shop_url + "/products")
    assert remote.exit_code == 1 and "since the last scan" not in remote.stdout and "stored as" not in remote.stdout
    remote_cookies = {c["name"] for c in json.loads(remote_json.read_text(encoding="utf-8"))["cookies"]}
    assert "YSC" in remote_cookies and "cart" not in remote_cookies  # the [scan] interactions are not public
    assert len(stored(scan_site.env, SITE_ID)) == before + 1
    third = invoke(scan_site.env, "scan", "--site", SITE_ID, "--max-pages", "1")
    assert third.exit_code == 1
    latest = stored(scan_site.env, SITE_ID)[-1]
    assert latest.previous_id == scan.id and latest.summary["pages"] == 1
    removed = {(c["name"], c["state"]) for c in latest.changes["cookies"]["removed"]}
    assert ("cart", "before") in removed and ("VISITOR_INFO1_LIVE", "accept") in removed
    assert latest.summary["changes"]["cookies_removed"] == len(latest.changes["cookies"]["removed"])
    assert f"since the last scan ({scan.id}" in third.stdout and "- cookie" in third.stdout
    assert "resolved: undeclared cookie YSC (127.0.0.2), before" in third.stdout
    assert "resolved: third_party_before_consent host 127.0.0.2, before" in third.stdout


# --------------------------------------------------------------------------- clean: status 0


def clean_shop(service_url: str) -> Flask:
    """A shop that sets only its declared session cookie and loads the banner."""
    app = Flask("clean_shop")

    @app.get("/")
    def home() -> Response:
        response = Response(f"<!doctype html><html lang='en'><head><title>Clean</title><script async "
                            f"src='{service_url}/v1/sites/{CLEAN_SITE}/banner.js'></script></head>"
                            "<body><h1>Clean shop</h1><p>Nothing but what it declares.</p></body></html>",
                            mimetype="text/html")
        response.set_cookie("sid", "s", httponly=True, samesite="Lax")
        return response

    return app


@pytest.mark.slow
def test_a_clean_shop_is_status_0(scan_site: ScanSite, chromium: str) -> None:
    server = ServerThread(clean_shop(scan_site.service_url))
    try:
        origin = f"http://localhost:{server.port}"
        raw = declaration(origin)
        raw["site"]["id"] = CLEAN_SITE
        raw["cookies"] = [c for c in raw["cookies"] if c["name"] in ("sid", "consent")]
        raw.pop("scan")
        app = create_app(env=scan_site.env)
        with app.app_context():
            sync_declarations(db.session, [parse_declaration(raw, "clean shop")])
            db.engine.dispose()
        result = invoke(scan_site.env, "scan", "--site", CLEAN_SITE, "--max-pages", "1", "--no-store")
    finally:
        server.stop()
    assert result.exit_code == 0, result.output
    assert f"scan of {CLEAN_SITE}: 1 pages x 3 states" in result.stdout  # the first origin is the start
    assert "findings: 0 errors, 0 warnings, 0 info" in result.stdout, result.stdout
    assert "since the last scan" not in result.stdout and "stored as" not in result.stdout
    assert stored(scan_site.env, CLEAN_SITE) == []
