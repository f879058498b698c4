"""Declared texts stay text, the JavaScript API, and the visitor's own-data buttons."""

from __future__ import annotations

import json

from tests.support.banner_pages import BANNER, PREFERENCES, wait_for_record, wait_until

HOSTILE = '<img src=x onerror="window.pwned=1">'


def test_declared_texts_are_inert(page, pages, service):
    def hostile(raw):
        raw["texts"]["en"]["title"] = "Cookies " + HOSTILE
        raw["texts"]["en"]["description"] = "<b>bold</b><script>window.pwned=2</script>"
        raw["texts"]["en"]["categories"]["analytics"]["title"] = HOSTILE
        raw["cookies"][0]["purpose"]["en"] = "<iframe src=javascript:parent.pwned=3></iframe>"

    site = service.site(edit=hostile)
    page.goto(pages.shop(site))
    page.get_by_role("dialog", name="Cookies " + HOSTILE).wait_for()
    assert page.locator(f"{BANNER} #cc-d").inner_text() == "<b>bold</b><script>window.pwned=2</script>"
    page.get_by_role("button", name="Customize").click()
    page.locator(f"{PREFERENCES} summary").first.click()
    page.wait_for_timeout(200)
    assert page.locator(".cc img, .cc b, .cc script, .cc iframe").count() == 0
    assert page.evaluate("window.pwned") is None
    assert page.get_by_role("switch", name=HOSTILE).count() == 1


def test_javascript_api(page, pages, service, site):
    page.goto(pages.shop(site))
    page.locator(BANNER).wait_for()
    page.evaluate("""() => {
      window.seen = []; window.events = [];
      window.stop = consent.on('change', d => seen.push(d));
      document.addEventListener('consent:change', e => events.push(e.detail));
    }""")
    assert page.evaluate("consent.get()") == {
        "decided": False, "policy_version": 1, "language": "en",
        "choices": {"necessary": True, "preferences": False, "analytics": False, "marketing": False}}
    assert page.evaluate("[consent.has('necessary'), consent.has('analytics')]") == [True, False]

    page.evaluate("consent.show()")
    page.locator(PREFERENCES).wait_for()
    page.get_by_role("switch", name="Preferences").check()
    page.get_by_role("button", name="Save choices").click()
    wait_until(page, "window.seen.length === 1")
    snapshot = page.evaluate("consent.get()")
    assert snapshot["decided"] is True and snapshot["choices"]["preferences"] is True
    assert page.evaluate("window.seen") == page.evaluate("window.events") == [snapshot]
    wait_for_record(service, site, 1, page)
    wait_until(page, "document.cookie.includes('consent=')")

    page.evaluate("window.stop()")
    page.evaluate("consent.withdraw('preferences')")
    wait_until(page, "window.events.length === 2")
    assert page.evaluate("window.seen.length") == 1, "unsubscribed listener not called"
    assert page.evaluate("consent.has('preferences')") is False
    records = wait_for_record(service, site, 2, page)
    assert [r["method"] for r in records] == ["custom", "withdraw"]


def test_visitor_data_buttons_call_the_service_with_the_token(page, pages, service, site):
    page.goto(pages.shop(site))
    page.evaluate("consent.show()")
    assert page.locator(PREFERENCES).get_by_role("button", name="Download my consent record").count() == 0, \
        "no token yet, so no own-data buttons"
    page.locator(PREFERENCES).get_by_role("button", name="Reject all").click()
    wait_for_record(service, site, 1, page)
    token = wait_until(page, "document.cookie.split('; ').find(c => c.startsWith('consent='))").split("=", 1)[1]

    seen = []

    def own_data(route):
        request = route.request
        cors = {"Access-Control-Allow-Origin": pages.origin, "Access-Control-Allow-Headers": "X-Consent-Token",
                "Access-Control-Allow-Methods": "GET, DELETE"}
        if request.method == "OPTIONS":
            return route.fulfill(status=204, headers=cors)
        seen.append((request.method, request.url, request.headers.get("x-consent-token")))
        body = json.dumps({"records": []}) if request.method == "GET" else ""
        route.fulfill(status=200 if body else 204, body=body, headers={**cors, "Content-Type": "application/json"})

    page.route("**/visitors/me/**", own_data)
    page.evaluate("consent.show()")
    dialog = page.locator(PREFERENCES)
    with page.expect_download() as download:
        dialog.get_by_role("button", name="Download my consent record").click()
    assert download.value.suggested_filename == "consent-record.json"
    with page.expect_download() as download:
        dialog.get_by_role("button", name="Download my receipts").click()
    assert download.value.suggested_filename == "consent-receipts.json"
    erase = dialog.get_by_role("button", name="Erase my data")
    erase.click()
    wait_until(page, "document.querySelector('.cc-pv .cc-lk:last-child').disabled")
    base = f"{service.url}/v1/sites/{site}/visitors/me"
    assert seen == [("GET", base + "/consents", token), ("GET", base + "/receipts", token),
                    ("DELETE", base + "/personal-data", token)]
