"""Each regime end to end, in headless Chromium on the demo shop, with the region header injected as the
operator's edge would set it: the cookie jar before any choice, after
accepting and after refusing, the first layer shown, and the stored record's regime and region; GPC in
US-CA; a Chinese visitor's separate consents; a spoofed region in the query changes nothing.

The region headers are added to every request on the network (a Playwright route), as an edge adds them
after the browser: set as the page's extra_http_headers they would be the page's own headers, which a
cross-origin fetch must have allowed by CORS (and the service rightly allows no such header)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from tests.e2e.conftest import Demo, running_demo
from tests.e2e.test_cookies_follow_consent import token_payload, wait_for
from tests.support.banner_pages import consent_mode_calls

pytestmark = pytest.mark.slow

DIALOG = "[role=dialog].cc-b"
NOTICE = "[role=region].cc-b"
PREFERENCES = ".cc-pv[role=dialog]"
NECESSARY = {"session", "cart", "csrf_token"}
PREFERENCE = {"currency"}
ANALYTICS = {"_ga", "_ga_XYZ"}
ADVERTISING = {"ad_id"}
EVERYTHING = NECESSARY | PREFERENCE | ANALYTICS | ADVERTISING
# The demo's categories' Consent Mode signals, by the cookies of each category.
SIGNALS = [(PREFERENCE, ("functionality_storage", "personalization_storage")), (ANALYTICS, ("analytics_storage",)),
           (ADVERTISING, ("ad_storage", "ad_user_data", "ad_personalization"))]
ALL_SIGNALS = ("ad_storage", "ad_user_data", "ad_personalization", "analytics_storage", "functionality_storage",
               "personalization_storage", "security_storage")
HEADERS = {"FR": {"CF-IPCountry": "FR"}, "GB": {"CF-IPCountry": "GB"},
           "US-CA": {"CF-IPCountry": "US", "CF-Region-Code": "CA"}, "CN": {"CF-IPCountry": "CN"},
           "AU": {"CF-IPCountry": "AU"}}
# region: (regime, first layer, jar before a choice)
REGIMES = {
    "FR": ("opt-in", DIALOG, NECESSARY),
    "GB": ("uk", DIALOG, NECESSARY | PREFERENCE | ANALYTICS),
    "US-CA": ("us-opt-out", NOTICE, EVERYTHING),
    "CN": ("china", DIALOG, NECESSARY),
    "AU": ("notice", NOTICE, EVERYTHING),
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    region = {"REGION_COUNTRY_HEADER": "CF-IPCountry", "REGION_SUBDIVISION_HEADER": "CF-Region-Code"}
    guard = {"region_header": "CF-IPCountry", "subdivision_header": "CF-Region-Code"}
    with running_demo(tmp_path_factory.mktemp("e2e-regimes"), region, guard) as running:
        yield running


@pytest.fixture
def visitor(browser: Any) -> Iterator[Any]:
    """A fresh profile in a region (and with GPC on when asked)."""
    contexts = []

    def open_in(region: str, gpc: bool = False) -> tuple[Any, Any]:
        context = browser.new_context(locale="en-US", extra_http_headers={"Sec-GPC": "1"} if gpc else {})
        context.route("**/*", lambda route: route.continue_(headers={**route.request.headers, **HEADERS[region]}))
        if gpc:
            context.add_init_script("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', "
                                    "{get: () => true, configurable: true})")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(5000)
        return context, page

    yield open_in
    for context in contexts:
        context.close()


def jar(context: Any) -> set[str]:
    return {cookie["name"] for cookie in context.cookies()}


def browse(page: Any, demo: Demo) -> None:
    page.goto(demo.shop_url + "/")
    page.goto(demo.shop_url + "/products/db-studio")
    page.wait_for_timeout(300)  # held-back scripts and the pixel


def last_record(demo: Demo) -> dict[str, Any]:
    from consent_service.extensions import db

    with demo.service_app.app_context():
        row = db.session.execute(sa.text(
            "SELECT id, regime, region, method, gpc, choices FROM consent_records ORDER BY id DESC LIMIT 1")).one()
    record = dict(row._mapping)
    if isinstance(record["choices"], str):
        import json

        record["choices"] = json.loads(record["choices"])
    return record


def consent_token(page: Any, context: Any) -> dict[str, Any]:
    cookie = wait_for(lambda: next((c["value"] for c in context.cookies() if c["name"] == "consent"), None),
                      page, "the consent cookie")
    return token_payload(cookie)


def decide(page: Any, first_layer: str, button: str) -> None:
    """Click a choice on the first layer, or (opt-out regimes) in the privacy choices it opens."""
    page.locator(first_layer).wait_for()
    if first_layer == NOTICE:
        page.get_by_role("button", name="Your privacy choices").click()
        page.locator(PREFERENCES).get_by_role("button", name=button).click()
    else:
        page.get_by_role("button", name=button).first.click()


@pytest.mark.parametrize("region", list(REGIMES))
def test_before_any_choice(visitor: Any, demo: Demo, region: str) -> None:
    regime, first_layer, before = REGIMES[region]
    context, page = visitor(region)
    browse(page, demo)
    assert page.locator(first_layer).is_visible()
    other = NOTICE if first_layer == DIALOG else DIALOG
    assert page.locator(other).count() == 0
    wait_for(lambda: jar(context) == before, page, f"the jar {sorted(before)} (is {sorted(jar(context))})")
    assert page.locator("#consent-status").get_attribute("data-status") == "none"
    # Google Consent Mode's default follows the regime: granted for what runs before a choice.
    granted = {"security_storage"} | {signal for cookies, signals in SIGNALS if cookies <= before for signal in signals}
    defaults = [call for call in consent_mode_calls(page) if call[1] == "default"]
    assert defaults == [["consent", "default", {signal: "granted" if signal in granted else "denied"
                                                 for signal in ALL_SIGNALS}]], defaults


@pytest.mark.parametrize("region", list(REGIMES))
def test_accept(visitor: Any, demo: Demo, region: str) -> None:
    regime, first_layer, _ = REGIMES[region]
    context, page = visitor(region)
    page.goto(demo.shop_url + "/")
    decide(page, first_layer, "Accept all")
    payload = consent_token(page, context)
    assert payload["rg"] == regime
    browse(page, demo)
    wait_for(lambda: jar(context) == EVERYTHING | {"consent"}, page, f"every cookie (is {sorted(jar(context))})")
    record = last_record(demo)
    assert (record["regime"], record["region"], record["method"]) == (regime, region, "accept_all")
    if regime == "china":  # never bundled into "accept all"
        assert record["choices"]["cross_border_transfer"] is False
        assert record["choices"]["third_party_sharing"] is False


@pytest.mark.parametrize("region", list(REGIMES))
def test_refuse(visitor: Any, demo: Demo, region: str) -> None:
    regime, first_layer, _ = REGIMES[region]
    context, page = visitor(region)
    browse(page, demo)
    decide(page, first_layer, "Reject all")
    payload = consent_token(page, context)
    assert payload["g"] == ["necessary"] and payload["rg"] == regime
    browse(page, demo)
    wait_for(lambda: jar(context) == NECESSARY | {"consent"}, page, f"only necessary (is {sorted(jar(context))})")
    record = last_record(demo)
    assert (record["regime"], record["region"], record["method"]) == (regime, region, "reject_all")


def test_gpc_in_california_is_an_honoured_opt_out(visitor: Any, demo: Demo) -> None:
    context, page = visitor("US-CA", gpc=True)
    page.goto(demo.shop_url + "/")
    page.locator(NOTICE).wait_for()
    assert page.locator("#cc-h").text_content() == "Opt-Out Request Honored"
    payload = consent_token(page, context)
    assert "marketing" not in payload["g"] and {"preferences", "analytics"} <= set(payload["g"])
    record = last_record(demo)
    assert (record["regime"], record["region"], record["method"], bool(record["gpc"])) == (
        "us-opt-out", "US-CA", "gpc", True)
    browse(page, demo)
    wait_for(lambda: jar(context) == EVERYTHING - ADVERTISING | {"consent"}, page,
             f"everything but advertising (is {sorted(jar(context))})")


@pytest.mark.parametrize("key", ["Close", "Escape"])
def test_the_notice_takes_no_focus_and_stays_dismissed_for_the_session(visitor: Any, demo: Demo, key: str) -> None:
    """An opt-out notice asks nothing: it leaves the focus where it is, and once closed (its button or
    Escape) the next pages of the tab session do not show it again; nothing is recorded."""
    context, page = visitor("AU")
    page.goto(demo.shop_url + "/")
    page.locator(NOTICE).wait_for()
    assert page.evaluate("document.activeElement === document.body")
    if key == "Close":
        page.locator(NOTICE).get_by_role("button", name="Close").click()
    else:
        page.locator(NOTICE).get_by_role("button", name="Your privacy choices").focus()
        page.keyboard.press("Escape")
    assert page.locator(NOTICE).count() == 0
    page.goto(demo.shop_url + "/products/db-studio")
    page.wait_for_timeout(300)
    assert page.locator(NOTICE).count() == 0 and "consent" not in jar(context)
    page.get_by_role("link", name="Cookie settings").click()
    page.locator(PREFERENCES).wait_for()  # the choices stay one link away
    other = context.new_page()  # a new tab is a new session: the notice is back
    other.goto(demo.shop_url + "/")
    other.locator(NOTICE).wait_for()


def test_china_cross_border_is_its_own_choice(visitor: Any, demo: Demo) -> None:
    context, page = visitor("CN")
    page.goto(demo.shop_url + "/")
    page.locator(DIALOG).wait_for()
    separate = page.locator(".cc-sep")
    assert separate.locator("input[type=checkbox]").count() == 2
    assert not separate.locator("input:checked").count(), "no separate consent starts ticked"
    page.get_by_role("checkbox", name="Transfer of my data outside mainland China").check()
    page.get_by_role("button", name="Accept all").first.click()
    payload = consent_token(page, context)
    assert "cross_border_transfer" in payload["g"] and "third_party_sharing" not in payload["g"]
    record = last_record(demo)
    assert record["choices"]["cross_border_transfer"] is True and record["choices"]["third_party_sharing"] is False
    assert record["choices"]["marketing"] is True and record["region"] == "CN"
    # "Accept all" in the preferences view keeps the separate choices as its switches show them.
    first_id = record["id"]
    page.get_by_role("link", name="Cookie settings").click()
    page.locator(f"{PREFERENCES} button", has_text="Accept all").click()
    wait_for(lambda: last_record(demo)["id"] != first_id, page, "the second record")
    record = last_record(demo)
    assert record["choices"]["cross_border_transfer"] is True and record["choices"]["third_party_sharing"] is False
    # Refusable later on its own, keeping the rest.
    page.get_by_role("link", name="Cookie settings").click()
    page.locator(f"{PREFERENCES} input[name=cross_border_transfer]").uncheck()
    page.get_by_role("button", name="Save choices").click()
    wait_for(lambda: "cross_border_transfer" not in consent_token(page, context)["g"], page, "the new token")
    record = last_record(demo)
    assert record["choices"]["cross_border_transfer"] is False and record["choices"]["marketing"] is True


def test_a_spoofed_region_in_the_query_changes_nothing(visitor: Any, demo: Demo) -> None:
    context, page = visitor("FR")
    page.goto(demo.shop_url + "/?region=US-CA&CF-IPCountry=US")
    page.locator(DIALOG).wait_for()
    page.wait_for_timeout(300)
    assert jar(context) == NECESSARY
    config = page.evaluate("url => fetch(url).then(r => r.json())",
                           demo.service_url + "/v1/sites/demo/config?region=US-CA&country=US")
    assert config["regime"]["id"] == "opt-in"
