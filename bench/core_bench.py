"""Service core under load: POST a consent, GET a visitor's consent, POST tokens/verify, each beside
a bare Flask JSON endpoint under the same gunicorn settings (2 workers; by default threaded as in the
Procfile, `--sync` for plain sync workers), on PostgreSQL and Redis; plus in-process token verification.

    .venv/bin/python -m bench.core_bench [--seconds 8] [--connections 8] [--sync]
"""

from __future__ import annotations

import argparse
import json
import secrets
import timeit
import urllib.request

import redis

from bench.support import REDIS_URL, ROOT, LoadResult, gunicorn, scratch_database, table, wrk

CHOICES = {"necessary": True, "preferences": False, "analytics": True, "marketing": False}
ORIGIN = "http://127.0.0.1:8000"


def prepare(database_url: str, env: dict[str, str], visitors: int) -> tuple[str, list[str], str]:
    """Migrate, sync the demo site, make a read key and some visitors; returns (key, visitor ids, token)."""
    from flask_migrate import upgrade

    from consent_service import create_app
    from consent_service.auth import create_key
    from consent_service.consents import Choice, record_choice
    from consent_service.extensions import db
    from consent_service.policies import site_states, sync_declarations
    from consent_service.sites import load_site_file

    app = create_app(env=env)
    with app.app_context():
        upgrade()
        sync_declarations(db.session, [load_site_file(ROOT / "sites" / "demo.toml")])
        site = site_states.get(db.session, "demo")
        _, key = create_key(db.session, "demo", "read", "bench")
        signer = app.extensions["consent"].signer("demo")
        recorded = [record_choice(db.session, site, signer, Choice(policy_version=site.version, choices=CHOICES,
                                                                    method="custom", user_agent="bench/1.0"))
                    for _ in range(visitors)]
        db.engine.dispose()
    return key, [r.visitor_id for r in recorded], recorded[0].token


def post_lua(run: str) -> str:
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
  return wrk.format(nil, nil, nil, '{prefix}' .. string.format("{run}%010d", counter) .. '"}}')
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


def warm_then_wrk(name: str, url: str, key: str, visitors: list[str], load: dict) -> LoadResult:
    """Ask for every visitor once first: the steady state of a backend is a warm cache."""
    for visitor in visitors:
        request = urllib.request.Request(f"{url}/v1/sites/demo/visitors/{visitor}/consent",
                                         headers={"Authorization": f"Bearer {key}"})
        urllib.request.urlopen(request, timeout=5).read()  # noqa: S310 (loopback)
    return wrk(name, url + "/v1/sites/demo/visitors/x/consent", get_lua(key, visitors), **load)


def verify_lua(key: str, token: str) -> str:
    return f"""
wrk.method = "POST"
wrk.body = '{{"token": "{token}"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
"""


def in_process_verify_us(token: str, secrets_list: list[str]) -> float:
    from consent_service.tokens import TokenSigner

    signer = TokenSigner("demo", secrets_list)
    assert signer.verify(token, 1).status == "valid"
    number = 50_000
    best = min(timeit.repeat(lambda: signer.verify(token, 1), number=number, repeat=5))
    return best / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--visitors", type=int, default=1000)
    parser.add_argument("--sync", action="store_true", help="sync workers instead of gthread x 4 threads")
    args = parser.parse_args()

    secret_keys = [secrets.token_urlsafe(32), secrets.token_urlsafe(32)]
    redis.Redis.from_url(REDIS_URL).flushdb()
    with scratch_database() as database_url:
        env = {"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "SECRET_KEYS": ",".join(secret_keys),
               "IP_PEPPER": secrets.token_urlsafe(16), "RATE_LIMIT_WRITES": "100000000/minute",
               "SITE_CACHE_SECONDS": "5"}
        key, visitors, token = prepare(database_url, env, args.visitors)
        load = dict(seconds=args.seconds, connections=args.connections)
        server = dict(worker_class="sync", threads=1) if args.sync else dict(worker_class="gthread", threads=4)
        with gunicorn("bench.bare_app:app", env, health_path="/bare", **server) as (url, _):
            bare = wrk("bare Flask JSON endpoint", url + "/bare", **load)
        with gunicorn("wsgi:app", env, **server) as (url, _):
            results = [
                wrk("POST consent", url + "/v1/sites/demo/consents", post_lua(secrets.token_hex(4)), **load),
                warm_then_wrk("GET visitor consent", url, key, visitors, load),
                wrk("POST tokens/verify", url + "/v1/sites/demo/tokens/verify", verify_lua(key, token), **load),
            ]
    redis.Redis.from_url(REDIS_URL).flushdb()

    def row(result: LoadResult) -> list[str]:
        return [result.name, f"{result.requests_per_second:,.0f}", f"{result.p50_ms:.2f}", f"{result.p99_ms:.2f}",
                f"{result.requests_per_second / bare.requests_per_second:.2f}", str(result.errors)]

    workers = "2 sync workers" if args.sync else "2 gthread workers x 4 threads"
    print(f"\nService core: gunicorn {workers}, PostgreSQL + Redis, wrk 1 thread x {args.connections} "
          f"connections x {args.seconds}s each")
    print(table([["endpoint", "req/s", "p50 ms", "p99 ms", "x bare", "errors"], row(bare), *map(row, results)]))
    print(f"\nin-process token verification: {in_process_verify_us(token, secret_keys):.1f} µs per call")
    print("targets: GET consent >= 0.60 x bare, POST consent >= 0.35 x bare, verification <= 20 µs")


if __name__ == "__main__":
    main()
