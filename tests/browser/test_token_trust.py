"""The banner trusts a consent token only once it verifies (issue #10, point 1): with WebCrypto's
Ed25519 against the keys inlined in the script, or, where the browser lacks Ed25519 or the token
names a key this copy of the script does not know, with the service, once per tab session. Every
forged form shows the banner, runs nothing held back and loses its cookie."""

from __future__ import annotations

import base64
import json
import time

import pytest

from consent_service.cli import main
from consent_service.devserver import NO_ED25519_SCRIPT
from tests.support.banner_pages import BANNER, cookie, wait_until
from tests.support.tokens import EVERYTHING, TestKeys, issue, service_issuer

HELD = ('<script>window.ran = [];</script>'
        '<script type="text/plain" data-consent="analytics">window.ran.push("analytics")</script>'
        '<script type="text/plain" data-consent="marketing">window.ran.push("marketing")</script>')


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def payload(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def forged(service, site: str, kind: str) -> str:
    """The forms of issue #10: a real token edited, spliced, another site's, or expired."""
    issuer = service_issuer(service.app, site)
    mine = issue(issuer, granted=["necessary"], visitor_id="01JAAAAAAAAAAAAAAAAAAAAAAA")
    theirs = issue(issuer, granted=EVERYTHING, visitor_id="01JBBBBBBBBBBBBBBBBBBBBBBB")
    header, body, signature = mine.split(".")
    flipped = signature[:7] + ("A" if signature[7] != "A" else "B") + signature[8:]
    if kind == "edited signature":
        return f"{header}.{theirs.split('.')[1]}.{flipped}"
    if kind == "edited payload":
        return f"{header}.{b64({**payload(mine), 'g': list(EVERYTHING)})}.{signature}"
    if kind == "edited visitor id":
        return f"{header}.{b64({**payload(mine), 'sub': '01JBBBBBBBBBBBBBBBBBBBBBBB'})}.{signature}"
    if kind == "spliced payload":
        return f"{header}.{theirs.split('.')[1]}.{signature}"
    if kind == "another site's token":
        return issue(service_issuer(service.app, service.site()), granted=EVERYTHING)
    if kind == "an attacker's key":
        return issue(TestKeys(site).issuer, granted=EVERYTHING)
    if kind == "expired":
        return issue(issuer, granted=EVERYTHING, expires_at=int(time.time()) - 60)
    raise AssertionError(kind)


FORMS = ["edited signature", "edited payload", "edited visitor id", "spliced payload", "another site's token",
         "an attacker's key", "expired"]


def plant(context, pages, token: str) -> None:
    context.add_cookies([{"name": "consent", "value": token, "url": pages.origin}])


@pytest.mark.parametrize("ed25519", [True, False], ids=["WebCrypto", "no Ed25519: the service checks"])
def test_a_genuine_token_is_trusted(browser, pages, service, site, ed25519):
    context = browser.new_context(locale="en-US")
    if not ed25519:
        context.add_init_script(NO_ED25519_SCRIPT)
    checks = []
    try:
        page = context.new_page()
        page.on("request", lambda r: "/tokens/check" in r.url and r.method == "POST" and checks.append(r.url))
        plant(context, pages, issue(service_issuer(service.app, site), granted=["necessary", "marketing"]))
        for _ in range(2):
            page.goto(pages.shop(site, HELD))
            wait_until(page, "window.consent && window.consent.get().decided")
            assert page.evaluate("window.ran") == ["marketing"] and page.locator(BANNER).count() == 0
        assert len(checks) == (0 if ed25519 else 1), "the service is asked once per session, and only without Ed25519"
        verified = page.evaluate("performance.getEntriesByName('consent:verify', 'measure').length")
        assert verified == 1
    finally:
        context.close()


@pytest.mark.parametrize("ed25519", [True, False], ids=["WebCrypto", "no Ed25519"])
@pytest.mark.parametrize("kind", FORMS)
def test_a_forged_token_shows_the_banner_runs_nothing_and_goes(browser, pages, service, site, kind, ed25519):
    context = browser.new_context(locale="en-US")
    if not ed25519:
        context.add_init_script(NO_ED25519_SCRIPT)
    try:
        page = context.new_page()
        page.set_default_timeout(5000)
        plant(context, pages, forged(service, site, kind))
        for _ in range(3):
            page.goto(pages.shop(site, HELD))
            page.locator(BANNER).wait_for()
            assert page.evaluate("window.ran") == []
            assert page.evaluate("consent.get().decided") is False
            assert page.evaluate("consent.has('marketing') || consent.has('analytics')") is False
            wait_until(page, "!document.cookie.includes('consent=')")
        assert cookie(context, "consent") is None
        assert service.records(site) == [], "nothing was recorded for the forger"
    finally:
        context.close()


def test_a_key_rotated_in_after_the_script_was_cached_is_checked_with_the_service(page, context, pages, service,
                                                                                  site):
    """A banner from the browser's cache knows the old keys only: a token of a new key is neither
    trusted nor thrown away; the service checks it (once) and it holds."""
    checks = []
    page.on("request", lambda r: "/tokens/check" in r.url and r.method == "POST" and checks.append(r.url))
    url = pages.shop(site, HELD, query="cached=1")  # the same script URL on every load: cached for 300 s
    page.goto(url)
    page.locator(BANNER).wait_for()
    old = service_issuer(service.app, site).kid
    with service.app.app_context():
        result = service.app.test_cli_runner().invoke(main, ["signing-keys", "rotate", "--site", site, "--now"])
    assert result.exit_code == 0, result.output
    token = issue(service_issuer(service.app, site), granted=["necessary", "analytics"])
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "==="))["kid"] != old
    plant(context, pages, token)
    page.goto(url)
    wait_until(page, "window.consent && window.consent.get().decided")
    assert page.evaluate("window.ran") == ["analytics"] and len(checks) == 1
    page.goto(url)
    wait_until(page, "window.consent && window.consent.get().decided")
    assert len(checks) == 1 and cookie(context, "consent")["value"] == token
