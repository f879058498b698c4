"""Where the CPU of one recorded choice goes, in the service's own process: POST /consents through
the WSGI app (no HTTP server, no network client), on PostgreSQL and Redis, each write a new visitor
with its own client_record_id, as peer_bench and core_bench send it.

    .venv/bin/python -m bench.write_profile [--writes 2000] [--top 0]

It prints the process's CPU per write (getrusage over the run, no profiler attached), then the same
writes again under cProfile with a CPU clock, split into the parts of the write path: the shares are
those of the profiled run (the profiler weighs call-heavy code a little more), applied to the
unprofiled CPU. `--top N` adds cProfile's N costliest functions. The database's and Redis's own CPU
are not in these figures (peer_bench reads them from /proc): here only what our process spends.

The server's share (gunicorn's accept, parse and write) is not here either: a bare Flask endpoint's
CPU per request under gunicorn is the floor that peer_bench's `workers` column starts from.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import resource
import secrets
import sys
import time
from collections.abc import Callable

from bench.core_bench import CHOICES, ORIGIN, prepare
from bench.support import REDIS_URL, scratch_database

#: (label, module path suffix, function name): cumulative CPU of each, in the order subtracted.
PARTS = [
    ("rate limit (one Redis script)", "consent_service/rate_limits.py", "hit"),
    ("body: JSON + schema", "consent_service/api/body.py", "load_json"),
    ("protection: encryption, HMACs, digest", "consent_service/consents/record_crypto.py", "protect_record"),
    ("PostgreSQL statement (client side)", "consent_service/consents/store.py", "insert"),
    ("cache write-through (Redis)", "consent_service/consents/cache.py", "put"),
    ("token signing (Ed25519 JWS)", "consent_service/consents/recording.py", "_sign"),
    ("sealing full batches (after the answer)", "consent_service/compliance/seals.py", "run"),
]
#: The whole of record_choice, so that what it does besides the parts above is shown on its own.
RECORD = ("consent_service/consents/recording.py", "record_choice")


def _environ(body: bytes) -> dict[str, object]:
    return {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/v1/sites/demo/consents", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "127.0.0.1:8000", "HTTP_ORIGIN": ORIGIN,
        "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) bench",
        "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
    }


def _writer(app: Callable, statuses: dict[str, int]) -> Callable[[int], None]:
    run = secrets.token_hex(4)
    body = {"policy_version": 1, "choices": CHOICES, "method": "custom", "language": "en",
            "page_url": f"{ORIGIN}/products/1?utm=x", "banner_version": "bench"}

    def write(number: int) -> None:
        answer: list[str] = []
        data = json.dumps({**body, "client_record_id": f"{run}{number:010d}"}).encode()
        result = app(_environ(data), lambda status, headers, exc_info=None: answer.append(status))
        b"".join(result)
        result.close()
        statuses[answer[0]] = statuses.get(answer[0], 0) + 1

    return write


def _cumulative(stats: pstats.Stats, path: str, name: str) -> float:
    return sum(row[3] for (file, _line, function), row in stats.stats.items()  # type: ignore[attr-defined]
               if function == name and file.endswith(path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--top", type=int, default=0, help="also print cProfile's N costliest functions")
    args = parser.parse_args()

    from consent_service.app import create_app
    from consent_service.extensions import db

    with scratch_database("write_profile") as url:
        env = {"DATABASE_URL": url, "REDIS_URL": REDIS_URL, "REDIS_PREFIX": f"write-profile-{secrets.token_hex(4)}:",
               "SECRET_KEYS": f"{secrets.token_urlsafe(32)},{secrets.token_urlsafe(32)}",
               "IP_PEPPER": secrets.token_urlsafe(16), "RATE_LIMIT_WRITES": "100000000/minute",
               "SITE_CACHE_SECONDS": "5"}
        prepare(url, env, visitors=1)
        app = create_app(env=env)
        statuses: dict[str, int] = {}
        write = _writer(app, statuses)
        for number in range(300):  # warm: prepared statements, caches, connections
            write(number)

        before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        for number in range(300, 300 + args.writes):
            write(number)
        after, elapsed = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - started
        cpu_ms = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / args.writes * 1000
        system_ms = (after.ru_stime - before.ru_stime) / args.writes * 1000

        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for number in range(300 + args.writes, 300 + 2 * args.writes):
            write(number)
        profile.disable()
        with app.app_context():
            db.engine.dispose()

    stats = pstats.Stats(profile)
    total = stats.total_tt  # type: ignore[attr-defined]
    parts = [(label, _cumulative(stats, path, name)) for label, path, name in PARTS]
    in_record = sum(value for label, value in parts
                    if not label.startswith(("rate limit", "body", "sealing")))
    parts.insert(-1, ("recording's own checks, ids, row", _cumulative(stats, *RECORD) - in_record))
    parts.append(("Flask, werkzeug, routing, answer, rest", total - sum(value for _, value in parts)))

    print(f"\nPOST /consents in process, {args.writes} writes of new visitors (answers: {statuses}):")
    print(f"  CPU per write {cpu_ms:.3f} ms ({system_ms:.3f} ms of it in the kernel), "
          f"wall {elapsed / args.writes * 1000:.3f} ms")
    print("  where it goes (shares under cProfile, applied to the CPU above):")
    for label, value in parts:
        print(f"    {label:<42} {value / total * cpu_ms:6.3f} ms  {value / total:6.1%}")
    if args.top:
        stats.sort_stats("tottime").print_stats(args.top)
    return 0 if set(statuses) == {"201 CREATED"} else 1


if __name__ == "__main__":
    sys.exit(main())
