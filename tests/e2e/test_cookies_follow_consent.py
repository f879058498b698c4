"""The end-to-end proof, in headless Chromium against the demo shop and the service on two origins:
the browser's cookie jar holds only what the visitor allowed, whoever tries to set the rest (the
shop's server, a held-back script, a held-back pixel)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from consent_service.tokens import TokenSigner

pytestmark = pytest.mark.slow

BANNER = "[role=dialog].cc-b"
PREFERENCES = ".cc-pv[role=dialog]"
NECESSARY = {"session", "cart", "csrf_token"}
ANALYTICS = {"_ga", "_ga_XYZ"}
EVERY_DECLARED = NECESSARY | {"consent", "currency", "ad_id"} | ANALYTICS


def jar(context: Any) -> dict[str, str]:
    return {c["name"]: c["value"] for c in context.cookies()}


def wait_for(check: Any, page: Any, what: str, seconds: float = 5.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, f"timed out waiting for {what}"
            return value
        page.wait_for_timeout(50)


def token_payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


class SetCookieLog:
    """Every Set-Cookie the browser receives from the shop's origin, by cookie name."""

    def __init__(self, page: Any, origin: str) -> None:
        self.responses: list[Any] = []
        self.origin = origin
        page.on("response", lambda response: response.url.startswith(origin) and self.responses.append(response))

    def names(self, deletions: bool = False) -> list[str]:
        """Names of the cookies set (deletions, `Max-Age=0`, left out unless asked for)."""
        names = []
        for response in self.responses:
            for header in response.headers_array():
                if header["name"].lower() == "set-cookie":
                    names += [line.split("=", 1)[0].strip() for line in header["value"].split("\n")
                              if deletions or "max-age=0" not in line.lower().replace(" ", "")]
        return names

    def clear(self) -> None:
        self.responses.clear()


def browse(page: Any, demo: Any) -> None:
    """Three pages and an item added to the cart."""
    page.goto(demo.shop_url + "/")
    page.goto(demo.shop_url + "/products/db-studio")
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url(demo.shop_url + "/cart")
    page.goto(demo.shop_url + "/login")


def server_status(page: Any) -> str:
    return page.locator("#consent-status").get_attribute("data-status")


def choose(page: Any, context: Any, button: str) -> dict[str, Any]:
    """Click a first-layer button and wait for the service's token in the consent cookie."""
    page.locator(BANNER).wait_for()
    page.get_by_role("button", name=button).click()
    page.locator(BANNER).wait_for(state="detached")
    return token_payload(wait_for(lambda: jar(context).get("consent"), page, "the consent cookie"))


def test_before_any_choice_only_necessary_cookies(page: Any, context: Any, demo: Any) -> None:
    log = SetCookieLog(page, demo.shop_url)
    browse(page, demo)
    assert page.locator(BANNER).is_visible()
    assert set(jar(context)) == NECESSARY
    assert "db-studio" in jar(context)["cart"]
    assert server_status(page) == "none"
    # The shop tried (currency and ad_id on every page); the guard removed them before the browser.
    assert set(log.names()) <= NECESSARY


def test_accept_all_sets_every_declared_cookie(page: Any, context: Any, demo: Any) -> None:
    page.goto(demo.shop_url + "/")
    payload = choose(page, context, "Accept all")
    assert set(payload["g"]) == {"necessary", "preferences", "analytics", "marketing"}
    # The held-back analytics script ran at once.
    wait_for(lambda: ANALYTICS <= set(jar(context)), page, "the analytics cookies")
    log = SetCookieLog(page, demo.shop_url)
    browse(page, demo)
    cookies = jar(context)
    assert set(cookies) == EVERY_DECLARED, set(cookies) ^ EVERY_DECLARED
    assert server_status(page) == "valid"
    assert not page.locator(BANNER).is_visible()
    # Server-side: currency, ad_id (pages and the pixel), _ga renewed, consent re-issued.
    names = log.names()
    assert {"currency", "ad_id", "_ga", "consent"} <= set(names)
    assert any(r.url.startswith(demo.shop_url + "/pixel.gif") for r in log.responses), "the held-back pixel ran"
    consent = next(c for c in context.cookies() if c["name"] == "consent")
    assert consent["sameSite"] == "Lax" and consent["expires"] - time.time() > 364 * 86400


def test_reject_all_keeps_only_necessary_cookies(page: Any, context: Any, demo: Any) -> None:
    page.goto(demo.shop_url + "/")
    payload = choose(page, context, "Reject all")
    assert payload["g"] == ["necessary"]
    log = SetCookieLog(page, demo.shop_url)
    browse(page, demo)
    page.wait_for_timeout(200)
    assert set(jar(context)) == NECESSARY | {"consent"}
    assert set(log.names()) <= NECESSARY | {"consent"}
    assert server_status(page) == "valid"
    assert not page.locator(BANNER).is_visible()


def test_withdrawing_analytics_removes_them_for_good(page: Any, context: Any, demo: Any) -> None:
    page.goto(demo.shop_url + "/")
    choose(page, context, "Accept all")
    page.goto(demo.shop_url + "/products/api-tester")
    wait_for(lambda: EVERY_DECLARED <= set(jar(context)), page, "every declared cookie")

    page.get_by_role("link", name="Cookie settings").click()
    page.locator(PREFERENCES).wait_for()
    page.locator(f"{PREFERENCES} input[name=analytics]").uncheck()
    page.get_by_role("button", name="Save choices").click()
    wait_for(lambda: "analytics" not in token_payload(jar(context)["consent"])["g"], page, "the withdrawal token")
    assert not ANALYTICS & set(jar(context)), "the banner deleted the analytics cookies"
    assert demo.records()[-1]["method"] == "withdraw"

    log = SetCookieLog(page, demo.shop_url)
    browse(page, demo)
    # A stale _ga from elsewhere (another tab, a restored session), even one a script cannot see:
    # the shop's server tries to renew it, the guard removes that Set-Cookie and expires the cookie.
    context.add_cookies([{"name": "_ga", "value": "GA1.1.stale", "url": demo.shop_url, "httpOnly": True}])
    response = page.goto(demo.shop_url + "/cart")
    assert "_ga=; Max-Age=0; Path=/" in response.headers_array().__repr__()
    assert "_ga" not in jar(context)
    page.wait_for_timeout(200)
    assert not ANALYTICS & set(jar(context))
    assert not ANALYTICS & set(log.names()), "the server set an analytics cookie again"
    assert {"currency", "ad_id"} <= set(jar(context)), "the other categories stay"
    assert page.evaluate("document.cookie").count("_ga") == 0


def test_with_gpc_no_advertising_cookie_ever(browser: Any, demo: Any) -> None:
    context = browser.new_context(locale="en-US", extra_http_headers={"Sec-GPC": "1"})
    context.add_init_script("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', "
                            "{get: () => true, configurable: true})")
    try:
        page = context.new_page()
        page.set_default_timeout(5000)
        log = SetCookieLog(page, demo.shop_url)
        page.goto(demo.shop_url + "/")
        assert page.locator("#consent-status").get_attribute("data-gpc") == "yes"
        assert page.locator(BANNER).get_by_text("Global Privacy Control").count() == 1
        payload = choose(page, context, "Accept all")
        assert "marketing" not in payload["g"]
        for _ in range(2):
            browse(page, demo)
            assert "ad_id" not in jar(context)
        wait_for(lambda: ANALYTICS <= set(jar(context)), page, "the analytics cookies (granted)")
        assert "currency" in jar(context)
        assert "ad_id" not in log.names()
        assert not any(r.url.startswith(demo.shop_url + "/pixel.gif") for r in log.responses)
    finally:
        context.close()


def _forged(demo: Any, kind: str) -> str:
    everything = ["necessary", "preferences", "analytics", "marketing"]
    fields = {"visitor_id": "01J00000000000000000000000", "policy_version": 1, "granted": everything,
              "record_id": "01J00000000000000000000001", "expires_at": int(time.time()) + 86400}
    if kind == "valid":
        return TokenSigner("demo", demo.secrets).issue(**fields)
    if kind == "foreign-site":
        return TokenSigner("another-shop", demo.secrets).issue(**fields)
    # Tampered: a real token for necessary only, its payload edited to grant everything.
    real = TokenSigner("demo", demo.secrets).issue(**{**fields, "granted": ["necessary"]})
    payload, signature = real.split(".")
    edited = {**token_payload(real), "g": everything}
    return base64.urlsafe_b64encode(json.dumps(edited).encode()).decode().rstrip("=") + "." + signature


@pytest.mark.parametrize("kind", ["valid", "tampered", "foreign-site"])
def test_a_tampered_or_foreign_consent_cookie_is_no_consent(page: Any, context: Any, demo: Any, kind: str) -> None:
    context.add_cookies([{"name": "consent", "value": _forged(demo, kind), "url": demo.shop_url}])
    log = SetCookieLog(page, demo.shop_url)
    browse(page, demo)
    names = set(log.names())
    if kind == "valid":  # the control: a genuine token for everything lets the server set everything
        assert server_status(page) == "valid"
        assert {"currency", "ad_id", "consent"} <= names
        return
    assert server_status(page) == "invalid"
    assert names <= NECESSARY, "the server set a cookie on a forged consent"
    assert not {"currency", "ad_id"} & set(jar(context))
    if kind == "foreign-site":
        # The banner reads the payload, sees another site, and asks.
        assert page.locator(BANNER).is_visible()
        assert set(jar(context)) == NECESSARY | {"consent"}
