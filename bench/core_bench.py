"""Service core under load: POST a consent, GET a visitor's consent, POST tokens/verify, each beside
a bare Flask JSON endpoint under the same gunicorn settings (2 sync workers; `--threads N` for the
Procfile's threaded workers), on PostgreSQL and Redis; plus in-process token verification.

    .venv/bin/python -m bench.core_bench [--seconds 5] [--rounds 3] [--connections 8] [--threads N] [--breakdown]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import secrets
import time
import timeit
import urllib.request

import redis

from bench.support import REDIS_URL, ROOT, LoadResult, gunicorn, scratch_database, table, wrk

#: `--breakdown`: the POST route with parts of its I/O switched off (the service's BENCHMARK_SKIP).
BREAKDOWN = [
    ("POST, no rate-limit check", "limit"),
    ("POST, no rate limit or cache write", "limit,cache"),
    ("POST, no I/O (in-process work only)", "limit,cache,database"),
]
CHOICES = {"necessary": True, "preferences": False, "analytics": True, "marketing": False}
ORIGIN = "http://127.0.0.1:8000"


def prepare(database_url: str, env: dict[str, str], visitors: int) -> tuple[str, list[str], str, dict]:
    """Migrate, sync the demo site, make a read key and some visitors; returns (key, visitor ids, token,
    the site's JWKS)."""
    from flask_migrate import upgrade

    from consent_service.app import create_app
    from consent_service.auth import create_key
    from consent_service.consents.recording import Choice
    from consent_service.extensions import db
    from consent_service.sites.declaration import load_site_file
    from consent_service.sites.sync import sync_declarations

    app = create_app(env=env)
    shared = app.extensions["consent"]
    with app.app_context():
        upgrade()
        sync_declarations(db.session, [load_site_file(ROOT / "sites" / "demo.toml")], shared.site_states)
        site = shared.site_states.get(db.session, "demo")
        _, key = create_key(db.session, "demo", "read", "bench")
        recorded = [shared.record(db.session, site, Choice(policy_version=site.version, choices=CHOICES,
                                                           method="custom", user_agent="bench/1.0"))
                    for _ in range(visitors)]
        jwks = shared.keys(db.session, "demo").public.jwks()
        db.engine.dispose()
    return key, [r.visitor_id for r in recorded], recorded[0].token, jwks


def post_lua(run: str, path: str = "/v1/sites/demo/consents") -> str:
    body = {"policy_version": 1, "choices": CHOICES, "method": "custom", "language": "en",
            "page_url": f"{ORIGIN}/products/1?utm=x", "banner_version": "bench"}
    prefix = json.dumps(body)[:-1] + ', "client_record_id": "'
    return f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Origin"] = "{ORIGIN}"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) bench"
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, "{path}", nil, '{prefix}' .. string.format("{run}%010d", counter) .. '"}}')
end
"""


def get_lua(key: str, visitor_ids: list[str]) -> str:
    ids = ",".join(f'"{v}"' for v in visitor_ids)
    return f"""
local ids = {{{ids}}}
wrk.headers["Authorization"] = "Bearer {key}"
request = function()
  return wrk.format("GET", "/v1/sites/demo/visitors/" .. ids[math.random(#ids)] .. "/consent")
end
"""


def warm(url: str, key: str, visitors: list[str]) -> None:
    """Ask for every visitor once first: the steady state of a backend is a warm cache."""
    for visitor in visitors:
        request = urllib.request.Request(f"{url}/v1/sites/demo/visitors/{visitor}/consent",
                                         headers={"Authorization": f"Bearer {key}"})
        urllib.request.urlopen(request, timeout=5).read()  # noqa: S310 (loopback)


def verify_lua(key: str, token: str) -> str:
    return f"""
wrk.method = "POST"
wrk.body = '{{"token": "{token}"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
"""


def in_process_verify_us(token: str, jwks: dict) -> dict[str, float]:
    """CPU µs per call, best of alternating rounds, of: the full verification of a token the
    verifier has not seen (tokens.TokenVerifier: parse, kid, EdDSA signature, audience, claims,
    expiry, version), of one it has (its claims remembered: expiry and version only); a bare Ed25519
    verify of the same token (cryptography, the floor); and the HMAC yardstick the old tokens were
    measured against (a bare `json.loads` + HMAC-SHA256 of the same bytes): this machine's speed at
    that moment, since a µs figure alone moves with the load."""
    from consent_service.tokens import PublicKeys, TokenVerifier, b64url_decode, key_id

    keys = PublicKeys.from_jwks(jwks)
    verifier = TokenVerifier("demo", keys)
    assert verifier.verify(token, 1).status == "valid"
    header, payload, signature = token.split(".")
    public, signed, raw_signature = keys[key_id(token)], f"{header}.{payload}".encode(), b64url_decode(signature)
    decoded = b64url_decode(payload)
    hmac_key = secrets.token_bytes(32)

    def bare_ed25519() -> None:
        public.verify(raw_signature, signed)

    def bare_hmac() -> None:
        hmac.new(hmac_key, signed, hashlib.sha256).digest()
        json.loads(decoded)

    cases = {"verify": lambda: TokenVerifier("demo", keys).verify(token, 1),
             "remembered": lambda: verifier.verify(token, 1), "ed25519": bare_ed25519, "hmac": bare_hmac}
    number = 5_000
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(5):
        for name, case in cases.items():
            best[name] = min(best[name], timeit.timeit(case, number=number, timer=time.process_time))
    return {name: seconds / number * 1e6 for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each is shown")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--visitors", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=0, help="gthread workers with N threads (default: sync)")
    parser.add_argument("--breakdown", action="store_true",
                        help="also POST with the rate limit, cache write and database write switched off in turn")
    args = parser.parse_args()

    secret_keys = [secrets.token_urlsafe(32), secrets.token_urlsafe(32)]
    redis.Redis.from_url(REDIS_URL).flushdb()
    with scratch_database() as database_url:
        env = {"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "SECRET_KEYS": ",".join(secret_keys),
               "IP_PEPPER": secrets.token_urlsafe(16), "RATE_LIMIT_WRITES": "100000000/minute",
               "SITE_CACHE_SECONDS": "5"}
        key, visitors, token, jwks = prepare(database_url, env, args.visitors)
        verify = in_process_verify_us(token, jwks)  # before the load: a quiet machine
        load = dict(seconds=args.seconds, connections=args.connections)
        server = dict(worker_class="gthread", threads=args.threads) if args.threads else dict(worker_class="sync")
        with contextlib.ExitStack() as servers:
            bare_url, _ = servers.enter_context(gunicorn("bench.bare_app:app", env, health_path="/bare", **server))
            url, _ = servers.enter_context(gunicorn("wsgi:app", env, **server))
            partial = [
                (name, servers.enter_context(
                    gunicorn("wsgi:app", {**env, "BENCHMARK_SKIP": skip}, **server))[0])
                for name, skip in (BREAKDOWN if args.breakdown else [])
            ]
            warm(url, key, visitors)
            rounds = []
            for _ in range(args.rounds):  # alternate, so a noisy moment hurts both sides alike
                rounds.append([
                    wrk("bare Flask JSON endpoint", bare_url + "/bare", **load),
                    wrk("naive ORM insert + commit (yardstick)", bare_url + "/naive-insert",
                        post_lua(secrets.token_hex(4), path="/naive-insert"), **load),
                    wrk("POST consent", url + "/v1/sites/demo/consents", post_lua(secrets.token_hex(4)), **load),
                    wrk("GET visitor consent", url + "/v1/sites/demo/visitors/x/consent", get_lua(key, visitors),
                        **load),
                    wrk("POST tokens/verify", url + "/v1/sites/demo/tokens/verify", verify_lua(key, token), **load),
                    *[wrk(name, partial_url + "/v1/sites/demo/consents", post_lua(secrets.token_hex(4)), **load)
                      for name, partial_url in partial],
                ])
            bare, *results = [max(runs, key=lambda r: r.requests_per_second) for runs in zip(*rounds, strict=True)]
    redis.Redis.from_url(REDIS_URL).flushdb()

    def row(result: LoadResult) -> list[str]:
        return [result.name, f"{result.requests_per_second:,.0f}", f"{result.p50_ms:.2f}", f"{result.p99_ms:.2f}",
                f"{result.requests_per_second / bare.requests_per_second:.2f}", str(result.errors)]

    workers = f"2 gthread workers x {args.threads} threads" if args.threads else "2 sync workers"
    print(f"\nService core: gunicorn {workers}, PostgreSQL + Redis, wrk 1 thread x {args.connections} "
          f"connections x {args.seconds}s, best of {args.rounds} alternating rounds")
    print(table([["endpoint", "req/s", "p50 ms", "p99 ms", "x bare", "errors"], row(bare), *map(row, results)]))
    print(f"\nin-process token verification, CPU per call (EdDSA JWT, tokens.TokenVerifier): {verify['verify']:.1f} µs "
          f"for a token first seen, {verify['remembered']:.1f} µs for one seen before (claims remembered per token)")
    print(f"  bare Ed25519 verify of the same token (the floor): {verify['ed25519']:.1f} µs")
    print(f"  HMAC yardstick of the old tokens (json.loads + HMAC-SHA256 of the same bytes): {verify['hmac']:.1f} µs "
          f"-> a first check costs x{verify['verify'] / verify['hmac']:.1f} that; paid once per token and process "
          "(the guard: bench.guard_bench)")
    print("targets: GET consent >= 0.60 x bare, POST consent >= 0.35 x bare")


if __name__ == "__main__":
    main()
