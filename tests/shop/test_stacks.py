"""The guard on every stack, in-process: framework presets, the ASGI guard against the WSGI one (same
rules, same decision), the Flask docs' snippets as written, and the other-language snippet in Node."""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from consent_service.shop import DECISION_KEY, GPC_KEY, ASGIConsentGuard, ConsentGuard, consent_decision
from consent_service.shop.frameworks import framework_cookies
from consent_service.shop.testing import ConsentTestKeys
from tests.shop.test_guard import ALL_COOKIES, DECLARATION, KEYS, CookieApp, make_guard, set_cookies, token
from tests.support import DEMO_TOML, free_port, require_service
from tests.support.shop_stacks import EVERYTHING, run_async, set_names, table, tampered, write_site_files
from tests.support.snippets import snippet

DJANGO_COOKIES = ["sessionid=s1; Path=/; HttpOnly", "csrftoken=c1; Path=/", "messages=m1; Path=/",
                  "django_language=en; Path=/", "_ga=GA1.1.1; Path=/"]


# -- framework presets ------------------------------------------------------------------------------

def test_a_frameworks_cookies_are_necessary_without_a_declaration() -> None:
    guard = make_guard(CookieApp(DJANGO_COOKIES), framework="django")
    assert set(set_cookies(guard)) == {"sessionid", "csrftoken", "messages", "django_language"}
    assert set(set_cookies(make_guard(CookieApp(DJANGO_COOKIES)))) == set(), "no preset: undeclared, blocked"
    assert framework_cookies(["flask", "fastapi"]) == {"session"}
    with pytest.raises(ValueError, match="framework must be one of"):
        make_guard(framework="rails")


def test_the_site_file_has_the_last_word_over_a_preset(tmp_path: Path) -> None:
    site_file = tmp_path / "demo.toml"
    site_file.write_text(DEMO_TOML.read_text(encoding="utf-8") + '''
[[cookies]]
name = "django_language"
category = "preferences"
provider = "Demo"
lifetime = "1 year"
purpose = { en = "Language.", zh-CN = "语言。" }
''', encoding="utf-8")
    guard = make_guard(CookieApp(DJANGO_COOKIES), framework="django", declarations=site_file)
    assert "django_language" not in set_cookies(guard, token(("necessary",)))
    assert "django_language" in set_cookies(guard, token(("necessary", "preferences")))
    # A refused category's cookie the browser still sends is expired; the framework's are not.
    quiet = make_guard(CookieApp([]), framework="django", declarations=site_file)
    sent = f"sessionid=s; csrftoken=c; django_language=en; consent={token(('necessary',))}"
    started: list[list[tuple[str, str]]] = []
    quiet({"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_COOKIE": sent},
          lambda status, headers, exc_info=None: started.append(headers))
    expired = {value.split("=")[0]: value for name, value in started[0] if name == "Set-Cookie"}
    assert set(expired) == {"django_language", "consent"}
    assert expired["django_language"].startswith("django_language=; Max-Age=0")


def test_with_declarations_unknown_the_preset_passes_and_the_log_says_why(caplog: pytest.LogCaptureFixture) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    guard = ConsentGuard(CookieApp(DJANGO_COOKIES), site_id="demo", service_url=dead, fetch_timeout=0.5,
                         framework="django")
    try:
        with caplog.at_level(logging.INFO, logger="consent_service.shop.guard"):
            names = set_cookies(guard, token(EVERYTHING))
        assert set(names) == {"sessionid", "csrftoken", "messages", "django_language"}
        assert "the declarations of site 'demo' are not known yet" in caplog.text
        assert "not declared" not in caplog.text, "_ga is declared: the declarations are what is missing"
    finally:
        guard.close()


# -- the ASGI guard: the WSGI guard's rules and decision ---------------------------------------------

def asgi_app(cookies: list[str], seen: dict[str, Any]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen["scope"] = scope
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")] + [(b"set-cookie", c.encode()) for c in cookies]})
        await send({"type": "http.response.body", "body": b"ok"})
    return app


def call_asgi(app: Any, cookie: str | None = None, scheme: str = "http", gpc: bool = False,
              extra: tuple[tuple[bytes, bytes], ...] = ()) -> list[str]:
    headers = [(b"host", b"shop.test"), *extra]
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    if gpc:
        headers.append((b"sec-gpc", b"1"))
    scope = {"type": "http", "method": "GET", "path": "/", "scheme": scheme, "headers": headers}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    run_async(app(scope, receive, send))
    return [value.decode() for name, value in sent[0]["headers"] if name == b"set-cookie"]


CASES = [None, token(("necessary",)), token(("necessary", "analytics")), token(EVERYTHING),
         tampered(token(EVERYTHING)), token(EVERYTHING, expires_in=-10)]


@pytest.mark.parametrize("consent", CASES, ids=["none", "reject", "analytics", "accept", "tampered", "expired"])
def test_the_asgi_guard_answers_as_the_wsgi_guard(consent: str | None) -> None:
    cookie = f"_ga=GA1; ad_id=a; consent={consent}" if consent else "_ga=GA1; ad_id=a"
    options = {"site_id": "demo", "keys": KEYS, "declarations": DECLARATION, "framework": "django"}
    cookies = [*ALL_COOKIES, *DJANGO_COOKIES]
    wsgi_app = CookieApp(cookies)
    started: list[list[tuple[str, str]]] = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "wsgi.url_scheme": "http", "HTTP_COOKIE": cookie,
               "HTTP_SEC_GPC": "1"}
    ConsentGuard(wsgi_app, **options)(environ, lambda status, headers, exc_info=None: started.append(headers))
    seen: dict[str, Any] = {}
    asgi = call_asgi(ASGIConsentGuard(asgi_app(cookies, seen), **options), cookie, gpc=True)
    assert asgi == [value for name, value in started[0] if name == "Set-Cookie"]
    assert seen["scope"][DECISION_KEY] == wsgi_app.environ[DECISION_KEY] == consent_decision(seen["scope"])
    assert seen["scope"][GPC_KEY] is True


def test_asgi_secure_follows_the_scheme_and_other_messages_pass() -> None:
    guard = ConsentGuard(None, site_id="demo", keys=KEYS, declarations=DECLARATION)
    app = ASGIConsentGuard(asgi_app([], {}), guard=guard)
    consent = token(("necessary",))
    assert [c for c in call_asgi(app, f"consent={consent}", scheme="https") if "Secure" in c]
    assert not [c for c in call_asgi(app, f"consent={consent}", scheme="http") if "Secure" in c]
    assert app.stats is guard.stats and guard.stats.reissued == 2
    with pytest.raises(ValueError, match="not both"):
        ASGIConsentGuard(asgi_app([], {}), guard=guard, site_id="demo")

    lifespan: list[Any] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        lifespan.append(scope["type"])

    run_async(ASGIConsentGuard(inner, guard=guard)({"type": "lifespan"}, None, None))
    assert lifespan == ["lifespan"]


# -- the docs' snippets, as written -----------------------------------------------------------------

def load_module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_flask_snippets_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = ConsentTestKeys("shop")
    write_site_files(tmp_path, keys)
    (tmp_path / "shop.py").write_text(snippet("shops/flask.md", "flask-app"), encoding="utf-8")
    (tmp_path / "test_shop.py").write_text(snippet("shops/flask.md", "flask-tests"), encoding="utf-8")
    # The shop's own tests, under pytest.
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_shop.py"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "2 passed" in run.stdout, run.stdout + run.stderr
    # The Set-Cookie table through the app as the docs build it (the site file, no service).
    monkeypatch.chdir(tmp_path)
    shop = load_module(tmp_path / "shop.py", "flask_docs_shop")
    app = shop.create_app({**shop.CONSENT_GUARD, "declarations": "sites/shop.toml"})
    for case, consent, allowed in table(keys):
        client = app.test_client()
        if consent:
            client.set_cookie("consent", consent)
        names = set_names(client.get("/product").headers.getlist("Set-Cookie"))
        expected = {"_ga"} & allowed | {"ad_id"} & allowed
        assert names - {"consent"} == expected, case


def test_the_node_snippet_as_written(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        require_service("Node.js", "no node on PATH")
    keys, other = ConsentTestKeys("shop"), ConsentTestKeys("other")
    script = tmp_path / "verify.js"
    script.write_text(snippet("shops/other-languages.md", "node-verify") + """
const [token, jwks] = process.argv.slice(2);
console.log(JSON.stringify(verifyConsent(token, JSON.parse(jwks), 'shop')));
""", encoding="utf-8")

    def verify(consent: str) -> Any:
        run = subprocess.run([node, str(script), consent, json.dumps(keys.jwks)], capture_output=True, text=True,
                             timeout=60, check=True)
        return json.loads(run.stdout)

    claims = verify(keys.token(granted=["necessary", "analytics"]))
    assert claims["aud"] == "shop" and sorted(claims["g"]) == ["analytics", "necessary"]
    assert verify(tampered(keys.token())) is None
    assert verify(keys.token(expires_in=-10)) is None
    assert verify(other.token()) is None
    assert verify("garbage") is None


def test_test_keys_replace_the_service_and_need_the_site_file() -> None:
    keys = ConsentTestKeys("shop")
    live = {"site_id": "shop", "service_url": "https://consent.example", "cache_file": "x.json", "framework": "django"}
    with pytest.raises(ValueError, match="declarations="):
        keys.guard_options(live)
    options = keys.guard_options(live, declarations="sites/shop.toml")
    assert options == {"site_id": "shop", "framework": "django", "keys": keys.jwks, "declarations": "sites/shop.toml"}
    assert "d" not in keys.jwks["keys"][0], "the public half only: no private 'd'"


@pytest.mark.parametrize("region,expected", [
    ((), {"sessionid"}),  # no region: the site's default regime (opt-in)
    (((b"cf-ipcountry", b"FR"),), {"sessionid"}),
    (((b"cf-ipcountry", b"US"), (b"cf-region-code", b"CA")), {"sessionid", "_ga", "ad_id"}),
    (((b"cf-ipcountry", b"us"), (b"cf-region-code", b"ca")), {"sessionid", "_ga", "ad_id"}),
])
def test_the_asgi_guard_reads_the_region_from_its_trusted_header(region: Any, expected: set[str]) -> None:
    """Before a choice, the visitor's regime comes from the header the operator names, as in WSGI."""
    guard = ConsentGuard(None, site_id="demo", keys=KEYS, declarations=DECLARATION, framework="django",
                         region_header="CF-IPCountry", subdivision_header="CF-Region-Code")
    lines = call_asgi(ASGIConsentGuard(asgi_app(["sessionid=s", "_ga=1", "ad_id=a"], {}), guard=guard), extra=region)
    assert {line.split("=", 1)[0] for line in lines if "Max-Age=0" not in line} == expected
