"""The consent guard as WSGI middleware: unit tests around a bare WSGI app and a Flask app, and the
config-endpoint source against a real local HTTP server. No database is needed."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import Client

from consent_service.decision import ConsentDecision
from consent_service.devserver import ServerThread
from consent_service.shop import DECISION_KEY, GPC_KEY, ConsentGuard, CookieRules
from consent_service.shop.flask import consent_granted
from consent_service.tokens import PublicKeys
from tests.support import DEMO_TOML, free_port
from tests.support.tokens import TestKeys, issue

# The shop's view: the site's public keys (a newer and an older one), never a private key.
NEWER, OLDER = TestKeys("demo"), TestKeys("demo")
KEYS = PublicKeys({NEWER.kid: NEWER.private.public_key(), OLDER.kid: OLDER.private.public_key()})
DEMO = tomllib.loads(DEMO_TOML.read_text(encoding="utf-8"))
DECLARATION = str(DEMO_TOML)
CATEGORIES = [{"id": name, **category} for name, category in DEMO["categories"].items()]


def demo_rules(cookie_domain: str = "") -> CookieRules:
    """The demo site's declarations, with another cookie domain."""
    return CookieRules(DEMO["categories"], DEMO["cookies"], cookie_domain=cookie_domain)
ALL_COOKIES = ["session=s1; Path=/; HttpOnly", "cart=empty; Path=/", "csrf_token=c1; Path=/",
               "currency=EUR; Path=/; Max-Age=31536000", "_ga=GA1.1.1; Path=/", "_ga_XYZ=GS1.1; Path=/",
               "ad_id=a1; Path=/", "tracker=t1; Path=/"]


def token(granted: tuple[str, ...] = ("necessary", "analytics"), *, site: str = "demo", version: int = 1,
          expires_in: int = 3600, keys: TestKeys = NEWER) -> str:
    if site != keys.issuer.site_id:
        keys = TestKeys(site)
    return issue(keys.issuer, granted=granted, policy_version=version, expires_in=expires_in)


class CookieApp:
    """A bare WSGI app that sets the cookies it is told and remembers the environ it saw."""

    def __init__(self, cookies: list[str] = ALL_COOKIES, extra: list[tuple[str, str]] = ()) -> None:
        self.cookies = cookies
        self.extra = list(extra)
        self.environ: dict[str, Any] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.environ = environ
        headers = [("Content-Type", "text/plain"), *self.extra] + [("Set-Cookie", c) for c in self.cookies]
        start_response("200 OK", headers)
        return [b"ok"]


def set_cookies(guard: ConsentGuard, consent: str | None = None, **kwargs: Any) -> dict[str, str]:
    client = Client(guard)
    if consent is not None:
        client.set_cookie("consent", consent)
    response = client.get("/", **kwargs)
    return {value.split("=", 1)[0]: value for value in response.headers.getlist("Set-Cookie")}


def make_guard(app: Any = None, **options: Any) -> ConsentGuard:
    options.setdefault("declarations", DECLARATION)
    options.setdefault("keys", KEYS)
    return ConsentGuard(app or CookieApp(), site_id="demo", **options)


def test_no_consent_lets_only_necessary_cookies_through() -> None:
    app = CookieApp()
    names = set_cookies(make_guard(app))
    assert set(names) == {"session", "cart", "csrf_token"}
    decision = app.environ[DECISION_KEY]
    assert decision.status == "none" and decision.granted == {"necessary"} and not decision.decided


def test_granted_categories_pass_and_others_are_removed() -> None:
    app = CookieApp()
    guard = make_guard(app, reissue=False)
    names = set_cookies(guard, token(("necessary", "analytics")))
    assert set(names) == {"session", "cart", "csrf_token", "_ga", "_ga_XYZ"}
    decision = app.environ[DECISION_KEY]
    assert decision.status == "valid" and decision.allows("analytics") and not decision.allows("marketing")
    assert decision.visitor_id == "01J0000000000000000000VIS1"
    everything = set_cookies(guard, token(("necessary", "preferences", "analytics", "marketing")))
    assert set(everything) == {"session", "cart", "csrf_token", "currency", "_ga", "_ga_XYZ", "ad_id"}


def test_a_token_signed_with_an_older_key_still_counts() -> None:
    names = set_cookies(make_guard(reissue=False), token(("necessary", "marketing"), keys=OLDER))
    assert "ad_id" in names


@pytest.mark.parametrize("bad", [
    "tampered", "foreign-site", "removed-secret", "garbage", "unknown-categories",
])
def test_a_bad_consent_cookie_counts_as_no_consent(bad: str) -> None:
    everything = ("necessary", "preferences", "analytics", "marketing")
    good = token(everything)
    value = {
        "tampered": good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"),
        "foreign-site": token(everything, site="other"),
        "removed-secret": token(everything, keys=TestKeys("demo")),
        "garbage": "not.a.token",
        "unknown-categories": token(("necessary", "spying")),
    }[bad]
    app = CookieApp()
    names = set_cookies(make_guard(app, reissue=False), value)
    expected = "valid" if bad == "unknown-categories" else "invalid"
    # An invalid token is a refusal: its cookie is deleted as well.
    assert set(names) == {"session", "cart", "csrf_token"} | ({"consent"} if expected == "invalid" else set())
    if expected == "invalid":
        assert names["consent"] == "consent=; Max-Age=0; Path=/"
    assert app.environ[DECISION_KEY].status == expected
    assert app.environ[DECISION_KEY].granted == {"necessary"}


def test_an_invalid_token_is_a_refusal_that_clears_the_jar() -> None:
    """Issue #10, points 1 and 6: a forged cookie (here a real token's payload edited to grant
    everything) grants nothing, is deleted, and every non-necessary cookie the browser sends is
    expired, declared or (under block) not; necessary ones stay."""
    import base64

    good = token(("necessary",))
    header, payload, signature = good.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["g"] = ["analytics", "marketing", "necessary", "preferences"]
    forged = header + "." + base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=") + "." + signature
    app = CookieApp([])
    client = Client(make_guard(app, declarations=demo_rules("shop.example")))
    for name in ("session", "cart", "_ga", "_ga_XYZ", "ad_id", "currency", "tracker"):
        client.set_cookie(name, "old")
    client.set_cookie("consent", forged)
    cookies = client.get("/").headers.getlist("Set-Cookie")
    assert app.environ[DECISION_KEY].status == "invalid"
    expired = {c.split("=")[0] for c in cookies}
    assert expired == {"consent", "_ga", "_ga_XYZ", "ad_id", "currency", "tracker"}
    assert all(c.startswith(c.split("=")[0] + "=; Max-Age=0; Path=/") for c in cookies)
    assert len(cookies) == 2 * len(expired), "host-only and on the site's cookie domain"
    # Under "allow" undeclared cookies are the shop's business; the declared ones still go.
    app = CookieApp([])
    client = Client(make_guard(app, undeclared="allow"))
    client.set_cookie("tracker", "old")
    client.set_cookie("_ga", "old")
    client.set_cookie("consent", forged)
    assert {c.split("=")[0] for c in client.get("/").headers.getlist("Set-Cookie")} == {"consent", "_ga"}


def test_outdated_or_no_token_expire_nothing_an_expired_one_is_a_refusal() -> None:
    """No token or an outdated one: the banner may be applying a new choice whose token has not
    arrived, so nothing is expired, and an outdated token stays (it still names the visitor). An
    expired token cannot reach the server from an honest browser (the cookie ends with it): it goes,
    and so does every non-necessary cookie."""
    for value in (None, token(version=1)):
        client = Client(make_guard(CookieApp([]), policy_version=2))
        client.set_cookie("_ga", "old")
        if value is not None:
            client.set_cookie("consent", value)
        assert client.get("/").headers.getlist("Set-Cookie") == []
    client = Client(make_guard(CookieApp([]), policy_version=2))
    client.set_cookie("_ga", "old")
    client.set_cookie("consent", token(version=2, expires_in=-5))
    assert sorted(client.get("/").headers.getlist("Set-Cookie")) == [
        "_ga=; Max-Age=0; Path=/", "consent=; Max-Age=0; Path=/"]


def test_a_remembered_decision_still_expires_and_follows_gpc(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard remembers a valid decision per token; expiry and Sec-GPC are still honoured."""
    app = CookieApp()
    guard = make_guard(app)
    everything = ("necessary", "preferences", "analytics", "marketing")
    consent = token(everything, expires_in=60)
    assert "ad_id" in set_cookies(guard, consent)
    assert "ad_id" in set_cookies(guard, consent)  # the remembered decision
    assert app.environ[DECISION_KEY].status == "valid" and not app.environ[GPC_KEY]
    set_cookies(guard, consent, headers={"Sec-GPC": "1"})
    assert app.environ[DECISION_KEY].gpc and app.environ[GPC_KEY]

    later = time.time() + 120
    monkeypatch.setattr("consent_service.shop.guard.time.time", lambda: later)
    names = set_cookies(guard, consent)
    assert set(names) == {"session", "cart", "csrf_token", "consent"} and names["consent"].startswith("consent=;")
    assert app.environ[DECISION_KEY].status == "expired"


def test_expired_and_outdated_tokens_grant_nothing_beyond_necessary() -> None:
    app = CookieApp()
    everything = ("necessary", "preferences", "analytics", "marketing")
    names = set_cookies(make_guard(app), token(everything, expires_in=-5))
    assert set(names) == {"session", "cart", "csrf_token", "consent"} and names["consent"].startswith("consent=;")
    assert app.environ[DECISION_KEY].status == "expired"

    guard = make_guard(app, policy_version=2)
    names = set_cookies(guard, token(everything, version=1))
    assert set(names) == {"session", "cart", "csrf_token"}
    assert app.environ[DECISION_KEY].status == "outdated"
    assert "ad_id" in set_cookies(guard, token(everything, version=2))


def test_without_a_policy_version_a_site_file_accepts_any_version() -> None:
    assert "ad_id" in set_cookies(make_guard(), token(("necessary", "marketing"), version=7))


def test_a_set_cookie_that_deletes_always_passes() -> None:
    deletions = ["_ga=; Path=/; Max-Age=0", "ad_id=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
                 "tracker=; Max-Age=-1", "currency=x; expires=Wed, 21 Oct 2015 07:28:00 GMT"]
    names = set_cookies(make_guard(CookieApp(deletions)))
    assert set(names) == {"_ga", "ad_id", "tracker", "currency"}
    # A future Expires, or a Max-Age that overrides a past Expires, is no deletion.
    assert set_cookies(make_guard(CookieApp(["ad_id=a; Expires=Fri, 01 Jan 2100 00:00:00 GMT",
                                              "_ga=b; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT"]))) == {}


@pytest.mark.parametrize(("policy", "passes"), [("block", False), ("allow", True), ("report", True)])
def test_undeclared_cookie_policies(policy: str, passes: bool, caplog: pytest.LogCaptureFixture) -> None:
    guard = make_guard(undeclared=policy)
    caplog.set_level(logging.INFO, logger="consent_service.shop.guard")
    for _ in range(3):
        assert ("tracker" in set_cookies(guard)) is passes
    counts = guard.stats.snapshot()
    logged = [r for r in caplog.records if "'tracker'" in r.getMessage()]
    if policy == "block":
        assert counts["removed"]["tracker"] == 3 and len(logged) == 1
    elif policy == "report":
        assert counts["reported"] == {"tracker": 3} and len(logged) == 1
    else:
        assert counts["reported"] == {} and "tracker" not in counts["removed"] and logged == []


def test_every_removal_is_logged_once_per_name_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="consent_service.shop.guard")
    guard = make_guard()
    for _ in range(4):
        set_cookies(guard)
    removed = guard.stats.snapshot()["removed"]
    assert removed == {"currency": 4, "_ga": 4, "_ga_XYZ": 4, "ad_id": 4, "tracker": 4}
    assert guard.stats.snapshot()["removed_total"] == 20
    for name in removed:
        assert len([r for r in caplog.records if f"{name!r}" in r.getMessage()]) == 1, name


def test_necessary_cookie_names_given_to_the_guard_always_pass() -> None:
    assert "tracker" in set_cookies(make_guard(necessary_cookies=["tracker"]))


def test_the_consent_cookie_is_reissued_with_its_full_lifetime() -> None:
    guard = make_guard()
    value = token(("necessary", "analytics"), expires_in=200 * 86400)
    cookies = set_cookies(guard, value)
    reissued = cookies["consent"]
    assert reissued.startswith(f"consent={value};")
    attributes = [part.strip() for part in reissued.split(";")[1:]]
    assert "Path=/" in attributes and "SameSite=Lax" in attributes and "Secure" not in attributes
    max_age = int(next(a for a in attributes if a.startswith("Max-Age=")).split("=")[1])
    assert 200 * 86400 - 5 <= max_age <= 200 * 86400
    assert not any(a.lower().startswith("httponly") for a in attributes), "the banner must read it"
    assert "Secure" in set_cookies(guard, value, environ_overrides={"wsgi.url_scheme": "https"})["consent"]
    assert guard.stats.reissued == 2


def test_reissue_respects_domain_and_skips_unsafe_or_pointless_cases() -> None:
    with_domain = demo_rules("shop.example")
    assert "Domain=shop.example" in set_cookies(make_guard(declarations=with_domain), token())["consent"]
    # No token, a bad one, an expired one: nothing to re-issue.
    assert "consent" not in set_cookies(make_guard())
    assert set_cookies(make_guard(), "forged")["consent"] == "consent=; Max-Age=0; Path=/"  # deleted
    assert set_cookies(make_guard(), token(expires_in=-1))["consent"] == "consent=; Max-Age=0; Path=/"
    # A response shared caches may keep must not carry one visitor's token to another.
    public = make_guard(CookieApp([], extra=[("Cache-Control", "public, max-age=600")]))
    assert "consent" not in set_cookies(public, token())
    # The application managing the cookie itself wins (here: deleting it).
    deleting = make_guard(CookieApp(["consent=; Max-Age=0; Path=/"]))
    assert set_cookies(deleting, token())["consent"] == "consent=; Max-Age=0; Path=/"
    assert "consent" not in set_cookies(make_guard(reissue=False), token())


def test_refused_cookies_the_browser_still_sends_are_expired() -> None:
    app = CookieApp(["session=s2; Path=/", "ad_id=a2; Path=/"])
    guard = make_guard(app, reissue=False)
    client = Client(guard)
    for name in ("session", "_ga", "_ga_XYZ", "ad_id", "currency", "tracker"):
        client.set_cookie(name, "old")
    client.set_cookie("consent", token(("necessary", "preferences")))
    response = client.get("/")
    cookies = response.headers.getlist("Set-Cookie")
    # ad_id: the app's own Set-Cookie is removed and the browser's copy expired, once.
    assert sorted(cookies) == sorted(["session=s2; Path=/", "_ga=; Max-Age=0; Path=/",
                                      "_ga_XYZ=; Max-Age=0; Path=/", "ad_id=; Max-Age=0; Path=/"])
    with_domain = demo_rules("shop.example")
    client = Client(make_guard(CookieApp([]), declarations=with_domain, reissue=False))
    client.set_cookie("consent", token(("necessary",)))
    client.set_cookie("_ga", "old")
    assert client.get("/").headers.getlist("Set-Cookie") == [
        "_ga=; Max-Age=0; Path=/", "_ga=; Max-Age=0; Path=/; Domain=shop.example"]
    client = Client(make_guard(CookieApp([]), expire_refused=False, reissue=False))
    client.set_cookie("consent", token(("necessary",)))
    client.set_cookie("_ga", "old")
    assert client.get("/").headers.getlist("Set-Cookie") == []
    # Without a valid token nothing is expired: the banner may have applied a choice whose token
    # has not arrived yet.
    client = Client(make_guard(CookieApp([])))
    client.set_cookie("_ga", "old")
    assert client.get("/").headers.getlist("Set-Cookie") == []


def test_sec_gpc_reaches_the_application() -> None:
    app = CookieApp()
    guard = make_guard(app)
    set_cookies(guard, headers={"Sec-GPC": "1"})
    assert app.environ[GPC_KEY] is True and app.environ[DECISION_KEY].gpc is True
    set_cookies(guard)
    assert app.environ[GPC_KEY] is False


def test_flask_app_reads_the_decision_with_consent_granted() -> None:
    shop = Flask(__name__)

    @shop.get("/")
    def index() -> Any:
        from flask import make_response

        response = make_response(json.dumps({c: consent_granted(c) for c in ("necessary", "analytics", "marketing")}))
        response.set_cookie("_ga", "GA1")
        response.set_cookie("ad_id", "x")
        response.delete_cookie("ad_id_old")
        return response

    @shop.get("/unguarded")
    def unguarded() -> str:
        return json.dumps(consent_granted("analytics"))

    guard = ConsentGuard(shop.wsgi_app, site_id="demo", keys=KEYS.jwks(), declarations=DEMO_TOML)
    shop.wsgi_app = guard
    client = shop.test_client()
    client.set_cookie("consent", token(("necessary", "analytics")))
    response = client.get("/")
    assert json.loads(response.data) == {"necessary": True, "analytics": True, "marketing": False}
    names = [c.split("=")[0] for c in response.headers.getlist("Set-Cookie")]
    assert names == ["_ga", "ad_id_old", "consent"]
    with shop.test_request_context("/unguarded"):
        assert consent_granted("analytics") is False
        assert consent_granted("necessary") is True


def test_guard_options_are_checked() -> None:
    with pytest.raises(ValueError, match="undeclared"):
        make_guard(undeclared="maybe")
    with pytest.raises(ValueError, match="exactly one"):
        ConsentGuard(CookieApp(), site_id="demo", keys=KEYS)
    with pytest.raises(ValueError, match="not 'other'"):
        ConsentGuard(CookieApp(), site_id="other", keys=KEYS, declarations=DECLARATION)
    with pytest.raises(TypeError):  # a shop holds no service secret: there is nowhere to give one
        ConsentGuard(CookieApp(), site_id="demo", secrets=["x"], declarations=DECLARATION)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="names no JWKS file"):
        ConsentGuard(CookieApp(), site_id="demo", declarations=DECLARATION)


def test_a_consent_decision_defaults_to_necessary_only() -> None:
    decision = ConsentDecision("none")
    assert decision.allows("necessary") and not decision.allows("analytics")


# -- declarations from the service's config endpoint -------------------------------------------------


class FakeService:
    """A real HTTP server on a free port answering the config endpoint and the JWKS, each with an ETag."""

    def __init__(self) -> None:
        self.config = {
            "site": "demo", "service": "", "policy_version": 3, "policy_hash": "h",
            "cookie": {"name": "consent", "domain": ""},
            "categories": CATEGORIES, "cookies": DEMO["cookies"],
        }
        self.jwks = KEYS.jwks()
        self.requests: list[tuple[str, str | None]] = []
        self.fail = False
        self.server = ServerThread(self.app)
        self.url = f"http://127.0.0.1:{self.server.port}"

    def app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        conditional = environ.get("HTTP_IF_NONE_MATCH")
        path = environ["PATH_INFO"]
        self.requests.append((path, conditional))
        documents = {"/v1/sites/demo/config": self.config, "/v1/sites/demo/jwks.json": self.jwks}
        if path not in documents or self.fail:
            start_response("503 Unavailable" if self.fail else "404 Not Found", [])
            return [b""]
        body = json.dumps(documents[path]).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if conditional == etag:
            start_response("304 Not Modified", [("ETag", etag)])
            return [b""]
        start_response("200 OK", [("Content-Type", "application/json"), ("ETag", etag),
                                  ("Content-Length", str(len(body)))])
        return [body]

    def asked(self, document: str) -> list[str | None]:
        """The If-None-Match of every request for one document ("config" or "jwks.json")."""
        return [conditional for path, conditional in self.requests if path == f"/v1/sites/demo/{document}"]

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def fake_service() -> Any:
    service = FakeService()
    yield service
    service.stop()


def service_guard(url: str, app: Any = None, **options: Any) -> ConsentGuard:
    options.setdefault("fetch_timeout", 0.5)
    return ConsentGuard(app or CookieApp(), site_id="demo", service_url=url, **options)


def test_declarations_and_keys_from_the_service_with_etags(fake_service: FakeService) -> None:
    guard = service_guard(fake_service.url)
    try:
        assert guard.rules is not None and guard.rules.policy_version == 3
        assert guard.verifier is not None and set(guard.verifier.keys) == set(KEYS)
        assert fake_service.asked("config") == [None] and fake_service.asked("jwks.json") == [None]
        everything = ("necessary", "preferences", "analytics", "marketing")
        assert "ad_id" in set_cookies(guard, token(everything, version=3))
        # The config endpoint knows the current version: an older token is outdated.
        assert "ad_id" not in set_cookies(guard, token(everything, version=2))
        # A refresh asks with the ETags and keeps the copies on 304.
        rules, verifier = guard.rules, guard.verifier
        assert guard.refresher.refresh() is True
        assert fake_service.asked("config")[-1] and fake_service.asked("jwks.json")[-1]
        assert guard.rules is rules and guard.verifier is verifier
        # A new policy version is picked up.
        fake_service.config = {**fake_service.config, "policy_version": 4}
        assert guard.service.refresh() is True and guard.rules.policy_version == 4
        assert "ad_id" not in set_cookies(guard, token(everything, version=3))
        # A retired key is dropped from the JWKS: its tokens stop counting at the next refresh.
        older = token(everything, version=4, keys=OLDER)
        assert "ad_id" in set_cookies(guard, older)
        fake_service.jwks = NEWER.jwks
        assert guard.service_keys.refresh() is True
        assert "ad_id" not in set_cookies(guard, older)
    finally:
        guard.close()


def test_the_background_thread_refreshes(fake_service: FakeService) -> None:
    guard = service_guard(fake_service.url, refresh_seconds=0.05)
    try:
        set_cookies(guard)  # the first request starts the refresher in this process
        fake_service.config = {**fake_service.config, "policy_version": 9}
        # Both documents are asked again (the first ask, at construction, sent no ETag); the refresh
        # asks for them one after the other, so wait for the second too rather than race it.
        def refreshed() -> bool:
            return (guard.rules.policy_version == 9 and len(fake_service.asked("config")) > 1
                    and len(fake_service.asked("jwks.json")) > 1)

        deadline = time.monotonic() + 5
        while not refreshed() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert guard.rules.policy_version == 9
        assert any(fake_service.asked("config")) and any(fake_service.asked("jwks.json"))
    finally:
        guard.close()


def test_a_token_of_an_unknown_key_wakes_the_refresher(fake_service: FakeService) -> None:
    """A key published after the last refresh: the guard refuses the token now, asks for the JWKS at
    once (not an hour later), and accepts the key's tokens from then on."""
    newest = TestKeys("demo")
    guard = service_guard(fake_service.url, refresh_seconds=3600)
    try:
        set_cookies(guard)
        fake_service.jwks = {"keys": [*KEYS.jwks()["keys"], *newest.jwks["keys"]]}
        everything = ("necessary", "preferences", "analytics", "marketing")
        value = token(everything, version=3, keys=newest)
        assert "ad_id" not in set_cookies(guard, value)
        deadline = time.monotonic() + 5
        while newest.kid not in guard.verifier.keys and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "ad_id" in set_cookies(guard, value)
    finally:
        guard.close()


def test_unreachable_service_keeps_the_last_good_copy(fake_service: FakeService, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    cache_file = tmp_path / "demo-service.json"
    guard = service_guard(fake_service.url, cache_file=cache_file)
    everything = ("necessary", "preferences", "analytics", "marketing")
    try:
        rules, verifier = guard.rules, guard.verifier
        fake_service.fail = True
        assert guard.refresher.refresh() is False
        assert guard.rules is rules and guard.verifier is verifier
        assert "ad_id" in set_cookies(guard, token(everything, version=3))
        fake_service.stop()
        assert guard.refresher.refresh() is False
        assert guard.rules is rules and "503" in caplog.text
    finally:
        guard.close()
    # A new process with the service down starts from the cache file: declarations and keys.
    restarted = service_guard(fake_service.url, cache_file=cache_file)
    try:
        assert restarted.rules is not None and restarted.rules.policy_version == 3
        assert "ad_id" in set_cookies(restarted, token(everything, version=3))
    finally:
        restarted.close()


def test_without_any_copy_only_necessary_passes(caplog: pytest.LogCaptureFixture) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    app = CookieApp()
    started = time.monotonic()
    guard = service_guard(dead, app, necessary_cookies=["session", "cart", "csrf_token"])
    try:
        assert time.monotonic() - started < 3
        assert guard.rules is None and guard.verifier is None
        everything = ("necessary", "preferences", "analytics", "marketing")
        names = set_cookies(guard, token(everything), headers={"Sec-GPC": "1"})
        assert set(names) == {"session", "cart", "csrf_token"}, "nothing expired: no telling a forgery"
        decision = app.environ[DECISION_KEY]
        assert decision.status == "unavailable" and decision.granted == {"necessary"} and decision.gpc
        assert "none known yet" in caplog.text
        # Deletions still pass.
        app.cookies = ["_ga=; Max-Age=0"]
        assert "_ga" in set_cookies(guard)
    finally:
        guard.close()


def test_a_site_file_names_its_jwks_file(tmp_path: Path) -> None:
    (tmp_path / "demo.jwks.json").write_text(json.dumps(KEYS.jwks()))
    site_file = tmp_path / "demo.toml"
    site_file.write_text(DEMO_TOML.read_text(encoding="utf-8").replace(
        'cookie_name = "consent"', 'cookie_name = "consent"\njwks = "demo.jwks.json"'), encoding="utf-8")
    guard = ConsentGuard(CookieApp(), site_id="demo", declarations=site_file)
    assert "ad_id" in set_cookies(guard, token(("necessary", "marketing")))
    from_file = ConsentGuard(CookieApp(), site_id="demo", declarations=DECLARATION, keys=tmp_path / "demo.jwks.json")
    assert "ad_id" in set_cookies(from_file, token(("necessary", "marketing")))
    (tmp_path / "demo.jwks.json").write_text("{}")
    with pytest.raises(ValueError, match="cannot use this JWKS file"):
        ConsentGuard(CookieApp(), site_id="demo", declarations=site_file)
