"""Withdrawal (from the page's "Cookie settings" control and the JS API), Global Privacy Control, and
choices made while the service is unreachable."""

from __future__ import annotations

import pytest

from tests.support.banner_pages import BANNER, PREFERENCES, cookie, wait_for_record, wait_until

SET_COOKIES = """() => {
  for (const c of ['_ga=1', '_ga_ABC123=1', 'ad_id=1', 'cart=1', 'currency=eur', 'unrelated=1'])
    document.cookie = c + ';Path=/;Max-Age=3600';
  document.cookie = '_ga_DOMAIN=1;Path=/;Max-Age=3600;Domain=' + location.hostname;
}"""


def names(context):
    return {c["name"] for c in context.cookies()}


def accepted(page, context, pages, service, site):
    page.goto(pages.shop(site))
    page.get_by_role("button", name="Accept all").click()
    wait_for_record(service, site, 1, page)
    wait_until(page, "document.cookie.includes('consent=')")
    page.evaluate(SET_COOKIES)
    assert {"_ga", "_ga_ABC123", "_ga_DOMAIN", "ad_id", "currency"} <= names(context)


def test_withdraw_from_cookie_settings_control(page, context, pages, service, site):
    accepted(page, context, pages, service, site)
    page.goto(pages.shop(site))
    wait_until(page, "window.consent.get().decided")
    page.get_by_role("link", name="Cookie settings").click()
    dialog = page.locator(PREFERENCES)
    assert dialog.get_by_role("switch", name="Analytics").is_checked()
    dialog.get_by_role("switch", name="Analytics").uncheck()
    dialog.get_by_role("button", name="Save choices").click()
    records = wait_for_record(service, site, 2, page)
    assert records[1]["method"] == "withdraw"
    assert records[1]["choices"] == {"necessary": True, "preferences": True, "analytics": False, "marketing": True}
    assert records[1]["visitor_id"] == records[0]["visitor_id"]
    left = names(context)
    assert not {"_ga", "_ga_ABC123", "_ga_DOMAIN"} & left, left
    assert {"ad_id", "cart", "currency", "unrelated", "consent"} <= left
    assert page.evaluate("window.consent.has('analytics')") is False


def test_withdraw_from_js_api(page, context, pages, service, site):
    accepted(page, context, pages, service, site)
    page.evaluate("window.consent.withdraw('marketing')")
    records = wait_for_record(service, site, 2, page)
    assert records[1]["method"] == "withdraw" and records[1]["choices"]["marketing"] is False
    assert "ad_id" not in names(context) and "_ga" in names(context)
    wait_until(page, "document.cookie.includes('consent=')")
    page.wait_for_timeout(100)
    page.evaluate("window.consent.withdraw()")
    records = wait_for_record(service, site, 3, page)
    assert records[2]["method"] == "withdraw"
    assert records[2]["choices"] == {"necessary": True, "preferences": False, "analytics": False, "marketing": False}
    assert names(context) & {"_ga", "_ga_ABC123", "_ga_DOMAIN", "ad_id", "currency"} == set()
    assert {"cart", "unrelated", "consent"} <= names(context)


def test_global_privacy_control(page, pages, service, site):
    page.add_init_script("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})")
    page.goto(pages.shop(site))
    banner = page.locator(BANNER)
    banner.get_by_text("Global Privacy Control").wait_for()
    page.get_by_role("button", name="Customize").click()
    assert page.locator(PREFERENCES).get_by_role("switch", name="Advertising").is_checked() is False
    assert page.locator(PREFERENCES).get_by_text("Global Privacy Control").is_visible()
    page.locator(PREFERENCES).get_by_role("button", name="Accept all").click()
    records = wait_for_record(service, site, 1, page)
    assert records[0]["choices"] == {"necessary": True, "preferences": True, "analytics": True, "marketing": False}
    assert records[0]["method"] == "custom"


QUEUE = "() => JSON.parse(localStorage.getItem('consent:' + window.consent_site + ':queue') || '[]')"


@pytest.mark.slow
def test_offline_choice_is_kept_and_sent_once_later(page, context, pages, service, site):
    page.add_init_script(f"window.consent_site = {site!r}")
    held = ('<script>window.ran = [];</script>'
            '<script type="text/plain" data-consent="analytics">window.ran.push("analytics")</script>')
    url = pages.shop(site, held)
    page.route("**/consents", lambda route: route.fulfill(
        status=503, json={"error": {"code": "unavailable", "message": "down"}},
        headers={"Access-Control-Allow-Origin": pages.origin}))
    page.goto(url)
    page.get_by_role("button", name="Accept all").click()
    page.locator(BANNER).wait_for(state="detached")
    wait_until(page, "window.ran.length === 1")
    page.wait_for_timeout(200)
    queued = page.evaluate(QUEUE)
    assert len(queued) == 1 and queued[0]["b"]["method"] == "accept_all"
    client_record_id = queued[0]["b"]["client_record_id"]
    assert service.records(site) == [] and cookie(context, "consent") is None

    # Still down on the next page: the choice applies from the queue, nothing is queued twice.
    page.goto(url)
    wait_until(page, "window.ran.length === 1")
    assert page.locator(BANNER).count() == 0
    page.wait_for_timeout(200)
    assert [q["b"]["client_record_id"] for q in page.evaluate(QUEUE)] == [client_record_id]

    # Network failure rather than 5xx: same outcome.
    page.unroute("**/consents")
    page.route("**/consents", lambda route: route.abort())
    page.goto(url)
    wait_until(page, "window.ran.length === 1")
    page.wait_for_timeout(200)
    assert len(page.evaluate(QUEUE)) == 1

    page.unroute("**/consents")
    page.goto(url)
    records = wait_for_record(service, site, 1, page)
    wait_until(page, f"({QUEUE})().length === 0")
    assert [r["client_record_id"] for r in records] == [client_record_id]
    assert cookie(context, "consent") is not None
    page.goto(url)
    wait_until(page, "window.ran.length === 1")
    page.wait_for_timeout(200)
    assert len(service.records(site)) == 1, "stored exactly once"


def test_rejected_token_is_dropped_and_the_choice_still_recorded(page, context, pages, service, site):
    context.add_cookies([{"name": "consent", "value": "not-a-token.bad", "url": pages.origin}])
    page.goto(pages.shop(site))
    page.get_by_role("button", name="Reject all").click()
    records = wait_for_record(service, site, 1, page)
    assert records[0]["method"] == "reject_all"
    wait_until(page, "document.cookie.includes('consent=') && !document.cookie.includes('not-a-token')")
