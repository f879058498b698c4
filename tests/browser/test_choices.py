"""Making a choice: the record is stored, the token lands in the first-party cookie, the banner
closes, held-back scripts and iframes run in page order under the page's CSP nonce, and Consent
Mode is updated."""

from __future__ import annotations

import time

from tests.support.banner_pages import (
    BANNER,
    PREFERENCES,
    consent_mode_calls,
    cookie,
    token_payload,
    wait_for_record,
    wait_until,
)

NONCE = "n0nceForTests123"


def held_back(pages, nonce=NONCE) -> str:
    """Held-back elements of several categories, interleaving inline and external scripts."""
    pages.add("/js/analytics-a.js", "window.ran.push('analytics-src-a');", "text/javascript")
    pages.add("/js/slow-analytics.js", "window.ran.push('analytics-src-slow');", "text/javascript")
    pages.add("/js/marketing.js", "window.ran.push('marketing-src');", "text/javascript")
    pages.add("/frame.html", "<p>frame</p>")
    n, o = f' nonce="{nonce}"', pages.origin
    return (
        f"<script{n}>window.ran = [];</script>"
        f'<script type="text/plain" data-consent="analytics"{n}>window.ran.push("analytics-inline-1")</script>'
        f'<script type="text/plain" data-consent="analytics" data-src="{o}/js/analytics-a.js"{n}></script>'
        f'<script type="text/plain" data-consent="marketing"{n}>window.ran.push("marketing-inline")</script>'
        f'<script type="text/plain" data-consent="analytics" data-src="{o}/js/slow-analytics.js"{n}></script>'
        f'<script type="text/plain" data-consent="analytics"{n}>window.ran.push("analytics-inline-2")</script>'
        f'<script type="text/plain" data-consent="marketing" data-src="{o}/js/marketing.js"{n}></script>'
        f'<script type="text/plain" data-consent="preferences"{n}>window.ran.push("preferences-inline")</script>'
        f'<script type="text/plain" data-consent="analytics marketing"{n}>window.ran.push("both")</script>'
        f'<iframe title="video" data-consent="marketing" data-src="{pages.origin}/frame.html"></iframe>'
    )


def open_with_csp(page, pages, site):
    violations = []
    page.on("console", lambda m: m.type == "error" and violations.append(m.text))
    page.goto(pages.shop(site, held_back(pages), nonce=NONCE, csp=True))
    page.locator(BANNER).wait_for()
    assert page.evaluate("window.ran") == []
    return violations


def test_accept_all(page, context, pages, service, site):
    violations = open_with_csp(page, pages, site)
    assert page.locator(BANNER).evaluate("e => getComputedStyle(e).position") == "fixed", "styles blocked by CSP"
    page.get_by_role("button", name="Accept all").click()
    page.locator(BANNER).wait_for(state="detached")
    wait_until(page, "window.ran.length === 8")
    assert page.evaluate("window.ran") == [
        "analytics-inline-1", "analytics-src-a", "marketing-inline", "analytics-src-slow", "analytics-inline-2",
        "marketing-src", "preferences-inline", "both"]
    assert page.locator("iframe[title=video]").get_attribute("src") == pages.origin + "/frame.html"

    records = wait_for_record(service, site, 1, page)
    assert len(records) == 1
    record = records[0]
    assert record["method"] == "accept_all"
    assert record["choices"] == {"necessary": True, "preferences": True, "analytics": True, "marketing": True}
    assert record["language"] == "en"
    assert record["banner_version"].startswith("1.")
    assert 16 <= len(record["client_record_id"]) <= 64

    for _ in range(50):
        stored = cookie(context, "consent")
        if stored:
            break
        page.wait_for_timeout(50)
    assert stored["sameSite"] == "Lax" and stored["secure"] is False and stored["path"] == "/"
    assert stored["domain"] == "localhost", "host-only on the page's host"
    payload = token_payload(stored["value"])
    assert payload["aud"] == site and payload["rid"] == record["id"]
    assert abs(stored["expires"] - payload["exp"]) < 5
    assert payload["exp"] - time.time() > 364 * 86400

    calls = consent_mode_calls(page)
    assert [c[1] for c in calls] == ["default", "update"]
    assert set(calls[1][2].values()) == {"granted"}
    assert not [v for v in violations if "Content Security Policy" in v], violations


def test_reject_all(page, pages, service, site):
    open_with_csp(page, pages, site)
    page.get_by_role("button", name="Reject all").click()
    page.locator(BANNER).wait_for(state="detached")
    records = wait_for_record(service, site, 1, page)
    assert records[0]["method"] == "reject_all"
    assert records[0]["choices"] == {"necessary": True, "preferences": False, "analytics": False, "marketing": False}
    assert page.evaluate("window.ran") == []
    assert page.locator("iframe[title=video]").get_attribute("src") is None
    update = consent_mode_calls(page)[-1]
    assert update[1] == "update"
    assert {k for k, v in update[2].items() if v == "granted"} == {"security_storage"}


def test_custom_choice_runs_only_granted_categories(page, pages, service, site):
    open_with_csp(page, pages, site)
    page.get_by_role("button", name="Customize").click()
    dialog = page.locator(PREFERENCES)
    dialog.get_by_role("switch", name="Analytics").check()
    dialog.get_by_role("button", name="Save choices").click()
    page.locator(PREFERENCES).wait_for(state="detached")
    assert page.locator(BANNER).count() == 0
    wait_until(page, "window.ran.length === 4")
    assert page.evaluate("window.ran") == [
        "analytics-inline-1", "analytics-src-a", "analytics-src-slow", "analytics-inline-2"]
    records = wait_for_record(service, site, 1, page)
    assert records[0]["method"] == "custom"
    assert records[0]["choices"] == {"necessary": True, "preferences": False, "analytics": True, "marketing": False}
    update = consent_mode_calls(page)[-1][2]
    assert {k for k, v in update.items() if v == "granted"} == {"security_storage", "analytics_storage"}


def test_cookie_is_secure_on_https(browser, service, site):
    """On an https shop the token cookie gets Secure (service and shop are stand-ins served by routes)."""
    from consent_service.banner.bundle import render_banner

    config = {**service.config(site), "service": "https://consent.test"}
    answer = {"record_id": "r1", "visitor_id": "v1", "token": "eyJwIjoxfQ.sig", "expires_at": "2099-01-01T00:00:00Z",
              "policy_version": config["policy_version"], "choices": {}}
    context = browser.new_context()
    try:
        page = context.new_page()
        page.route("https://shop.test/", lambda route: route.fulfill(content_type="text/html", body=(
            '<!doctype html><html lang="en"><title>t</title><main><p>x</p></main>'
            '<script src="https://consent.test/banner.js" async></script>')))
        page.route("https://consent.test/banner.js", lambda route: route.fulfill(
            content_type="text/javascript", body=render_banner(config).body))
        page.route("https://consent.test/v1/**", lambda route: route.fulfill(
            status=201, json=answer, headers={"Access-Control-Allow-Origin": "https://shop.test"}))
        page.goto("https://shop.test/")
        page.get_by_role("button", name="Reject all").click()
        for _ in range(50):
            if cookie(context, "consent"):
                break
            page.wait_for_timeout(50)
        stored = cookie(context, "consent")
        assert stored["secure"] is True and stored["sameSite"] == "Lax" and stored["value"] == answer["token"]
    finally:
        context.close()
