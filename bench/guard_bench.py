"""The consent guard's cost per request, in-process: a bare WSGI app that answers with 10 Set-Cookie
headers, alone and wrapped in the guard (30 cookie declarations, a valid consent token, the consent
cookie re-issued). Prints µs per request for both and the difference, and what a token's first
request in a process adds (its EdDSA signature is checked then, and remembered per token). Then the
same for the ASGI guard around a bare ASGI app sending the same headers, beside the WSGI figure: each
ASGI call is driven to its end without an event loop (nothing in it waits), so the figure is the
guard's own work, not a loop's.

    .venv/bin/python -m bench.guard_bench        (target: at most 25 µs added per request)
"""

from __future__ import annotations

import gc
import logging
import statistics
import time
import tomllib
from typing import Any

from bench.support import ROOT
from consent_service.shop import ASGIConsentGuard, ConsentGuard, CookieRules
from consent_service.tokens import PublicKeys, TokenIssuer, new_private_key

#: The site's key pair: the guard gets the public half only, as a shop does.
PRIVATE = new_private_key()
ISSUER = TokenIssuer("demo", "bench001", PRIVATE)
KEYS = PublicKeys({"bench001": PRIVATE.public_key()})
TARGET_US = 25.0

# 10 Set-Cookie headers: necessary, granted, refused and one undeclared; one of them a deletion.
SET_COOKIES = [
    "session=eyJzaWQiOiJhYmMifQ.abc.def; HttpOnly; Path=/; SameSite=Lax",
    "cart=code-editor-pro.1~db-studio.2; Max-Age=2592000; Path=/; SameSite=Lax",
    "csrf_token=T0k3nT0k3nT0k3nT0k3nT0k3n; Path=/; SameSite=Lax",
    "currency=EUR; Max-Age=31536000; Path=/; SameSite=Lax",
    "_ga=GA1.1.123456789.1700000000; Max-Age=63072000; Path=/; SameSite=Lax",
    "_ga_XYZ=GS1.1.1700000000.1.0; Max-Age=63072000; Path=/; SameSite=Lax",
    "ad_id=0123456789abcdef; Max-Age=7776000; Path=/; SameSite=Lax",
    "ad_seen=1; Max-Age=7776000; Path=/; SameSite=Lax",
    "chat_widget=open; Path=/",
    "old_tracker=; Max-Age=0; Path=/",
]


def declaration_with_30_cookies() -> CookieRules:
    """The demo site's declarations grown to 30 cookie declarations (names and patterns)."""
    declaration = tomllib.loads((ROOT / "sites" / "demo.toml").read_text(encoding="utf-8"))
    cookies = list(declaration["cookies"])
    purpose = {"en": "Benchmark filler.", "zh-CN": "基准测试。"}
    categories = ["preferences", "analytics", "marketing"]
    index = 0
    while len(cookies) < 30:
        entry = {"category": categories[index % 3], "provider": "Bench", "lifetime": "1 day", "purpose": purpose}
        if index % 4 == 3:
            entry["pattern"] = f"bench_p{index}_*"
        else:
            entry["name"] = f"bench_{index}"
        cookies.append(entry)
        index += 1
    cookies.append({"name": "ad_seen", "category": "marketing", "provider": "Bench", "lifetime": "1 day",
                    "purpose": purpose})
    cookies = cookies[:29] + [cookies[-1]]
    assert len(cookies) == 30
    return CookieRules(declaration["categories"], cookies)


def bare_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "2"),
                              *[("Set-Cookie", value) for value in SET_COOKIES]])
    return [b"ok"]


ASGI_HEADERS = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", b"2"),
                *[(b"set-cookie", value.encode()) for value in SET_COOKIES]]


async def bare_asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": ASGI_HEADERS})
    await send({"type": "http.response.body", "body": b"ok"})


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


async def _send(message: dict[str, Any]) -> None:
    return None


def asgi_cpu_per_request_us(app: Any, scopes: list[dict[str, Any]]) -> float:
    """As cpu_per_request_us, for an ASGI app: each call's coroutine is run to its end directly."""
    gc.disable()
    started = time.process_time_ns()
    for scope in scopes:
        coroutine = app(dict(scope), _receive, _send)
        try:
            coroutine.send(None)
        except StopIteration:
            pass
        else:
            raise AssertionError("the app waited for something")
    elapsed = time.process_time_ns() - started
    gc.enable()
    return elapsed / len(scopes) / 1000


def asgi_scope(environ: dict[str, Any]) -> dict[str, Any]:
    """The WSGI environ's request as an ASGI scope."""
    headers = [(name[5:].lower().replace("_", "-").encode(), value.encode())
               for name, value in environ.items() if name.startswith("HTTP_")]
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "https",
            "path": environ["PATH_INFO"], "query_string": b"", "headers": headers}


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
    return None


def cpu_per_request_us(app: Any, environs: list[dict[str, Any]]) -> float:
    """CPU time of this process per request, in µs (on a shared, loaded machine wall time mostly
    measures the neighbours). Rounds alternate between the apps, so a noisy moment hurts each."""
    gc.disable()
    started = time.process_time_ns()
    for environ in environs:
        for _chunk in app(dict(environ), _start_response):
            pass
    elapsed = time.process_time_ns() - started
    gc.enable()
    return elapsed / len(environs) / 1000


def run(requests: int = 20_000, rounds: int = 7) -> dict[str, float]:
    declaration = declaration_with_30_cookies()
    guard = ConsentGuard(bare_app, site_id="demo", keys=KEYS, declarations=declaration, policy_version=1)
    token = ISSUER.issue(
        visitor_id="01J0000000000000000000VIS1", policy_version=1, granted=["necessary", "analytics"],
        record_id="01J0000000000000000000REC1", expires_at=int(time.time()) + 365 * 86400)
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/products/db-studio", "QUERY_STRING": "", "SERVER_NAME": "shop",
        "SERVER_PORT": "443", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "https",
        "HTTP_HOST": "shop.example", "HTTP_SEC_GPC": "1",
        "HTTP_COOKIE": f"session=eyJzaWQiOiJhYmMifQ.abc.def; cart=db-studio.2; csrf_token=T0k3n; consent={token}; "
                       "_ga=GA1.1.123456789.1700000000; _ga_XYZ=GS1.1.1700000000.1.0",
    }
    # Check it does what it is measured doing: keeps 7 headers, removes 4, re-issues the consent cookie.
    seen: list[list[tuple[str, str]]] = []
    guard(dict(environ), lambda status, headers, exc_info=None: seen.append(headers))
    kept = [value.split("=")[0] for name, value in seen[0] if name == "Set-Cookie"]
    assert kept == ["session", "cart", "csrf_token", "_ga", "_ga_XYZ", "old_tracker", "consent"], kept

    warm = [environ] * requests
    cpu_per_request_us(bare_app, warm[:2000]), cpu_per_request_us(guard, warm[:2000])  # warm up
    # The first request a process sees with a given token also checks its EdDSA signature: a fresh
    # token (another record id) per request, through a guard that has seen none of them.
    cold = [{**environ, "HTTP_COOKIE": environ["HTTP_COOKIE"].replace(token, ISSUER.issue(
        visitor_id="01J0000000000000000000VIS1", policy_version=1, granted=["necessary", "analytics"],
        record_id=f"01J00000000000000{i:09d}", expires_at=int(time.time()) + 86400))} for i in range(rounds * 300)]
    fresh_guard = ConsentGuard(bare_app, site_id="demo", keys=KEYS, declarations=declaration, policy_version=1)
    batches = iter([cold[i * 300:(i + 1) * 300] for i in range(rounds)])
    timings: dict[str, list[float]] = {"bare": [], "guarded": [], "first": []}
    for _ in range(rounds):
        timings["bare"].append(cpu_per_request_us(bare_app, warm))
        timings["guarded"].append(cpu_per_request_us(guard, warm))
        timings["first"].append(cpu_per_request_us(fresh_guard, next(batches)))
    # The ASGI guard, checked the same way, then measured in rounds alternating with the bare ASGI app.
    asgi_guard = ASGIConsentGuard(bare_asgi_app, site_id="demo", keys=KEYS, declarations=declaration,
                                  policy_version=1)
    scope = asgi_scope(environ)
    sent: list[dict[str, Any]] = []

    async def capture(message: dict[str, Any]) -> None:
        sent.append(message)

    coroutine = asgi_guard(dict(scope), _receive, capture)
    try:
        coroutine.send(None)
    except StopIteration:
        pass
    kept = [value.decode().split("=")[0] for name, value in sent[0]["headers"] if name == b"set-cookie"]
    assert kept == ["session", "cart", "csrf_token", "_ga", "_ga_XYZ", "old_tracker", "consent"], kept
    scopes = [scope] * requests
    asgi_cpu_per_request_us(bare_asgi_app, scopes[:2000]), asgi_cpu_per_request_us(asgi_guard, scopes[:2000])
    for _ in range(rounds):
        timings.setdefault("asgi_bare", []).append(asgi_cpu_per_request_us(bare_asgi_app, scopes))
        timings.setdefault("asgi_guarded", []).append(asgi_cpu_per_request_us(asgi_guard, scopes))
    bare, guarded, first, asgi_bare, asgi_guarded = (
        statistics.median(timings[name]) for name in ("bare", "guarded", "first", "asgi_bare", "asgi_guarded"))
    return {"bare_us": bare, "guarded_us": guarded, "added_us": guarded - bare, "first_seen_added_us": first - bare,
            "asgi_bare_us": asgi_bare, "asgi_guarded_us": asgi_guarded, "asgi_added_us": asgi_guarded - asgi_bare}


def main() -> None:
    logging.getLogger("consent_service.shop.guard").setLevel(logging.ERROR)  # the removals it logs once
    result = run()
    verdict = "within" if result["added_us"] <= TARGET_US else "OVER"
    print("Consent guard, in-process (10 Set-Cookie headers, 30 declarations, valid token, re-issue on),")
    print("CPU time per request, median of alternating rounds")
    print(f"  bare WSGI app      {result['bare_us']:8.2f} µs/request")
    print(f"  wrapped in guard   {result['guarded_us']:8.2f} µs/request")
    print(f"  added by the guard {result['added_us']:8.2f} µs/request  ({verdict} the {TARGET_US:.0f} µs target)")
    print(f"  first request per token and process (EdDSA signature checked, then remembered): "
          f"{result['first_seen_added_us']:.2f} µs added")
    asgi_verdict = "within" if result["asgi_added_us"] <= TARGET_US else "OVER"
    print("The same through the ASGI guard (Starlette, FastAPI, Django's asgi.py), beside the WSGI one:")
    print(f"  bare ASGI app      {result['asgi_bare_us']:8.2f} µs/request")
    print(f"  wrapped in guard   {result['asgi_guarded_us']:8.2f} µs/request")
    print(f"  added by the guard {result['asgi_added_us']:8.2f} µs/request  ({asgi_verdict} the {TARGET_US:.0f} µs "
          f"target; WSGI: {result['added_us']:.2f})")


if __name__ == "__main__":
    main()
