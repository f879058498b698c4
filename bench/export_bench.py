"""Export benchmark: 1,000,000 consent records in a fresh PostgreSQL database, exported through the
API (gunicorn, 1 sync worker) as NDJSON and CSV with personal fields decrypted, beside
`COPY (SELECT ...) TO STDOUT` of the same rows as the ceiling.

    .venv/bin/python -m bench.export_bench [--rows N] [--visitors N]

Records are made with the service's own proof functions (AES-GCM personal fields under a few
thousand visitor keys, HMAC field digests, record digests), loaded with COPY, then sealed. The
client discards the bytes it reads; the service worker's peak memory is its VmHWM. Every server
started here is stopped by its process id and the database is dropped.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import multiprocessing
import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from bench.support import ROOT, gunicorn, scratch_database
from consent_service.consents.fields import WRITTEN_FIELDS as COLUMNS

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 "
    "Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile "
    "Safari/537.36",
]
PATTERNS = [
    ("accept_all", {"necessary": True, "preferences": True, "analytics": True, "marketing": True}),
    ("reject_all", {"necessary": True, "preferences": False, "analytics": False, "marketing": False}),
    ("custom", {"necessary": True, "preferences": False, "analytics": True, "marketing": False}),
    ("custom", {"necessary": True, "preferences": True, "analytics": True, "marketing": False}),
]
ENV = {"SECRET_KEYS": "bench-secret-0123456789abcdef0123456789abcdef", "IP_PEPPER": "bench-pepper",
       "CONSENT_ENV": "development", "SITE_CACHE_SECONDS": "60"}

_state: dict = {}


def _init_worker(visitors: list[tuple[str, bytes]], policy_hash: str, start: float, span: float, rows: int) -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: F401 (warm import)

    _state.update(visitors=visitors, policy_hash=policy_hash, start=start, span=span, rows=rows)


def _copy_value(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _make_chunk(bounds: tuple[int, int]) -> bytes:
    """COPY text for records [first, last): made with the real proof functions."""
    from consent_service.consents.record_crypto import desensitize_ip, protect_record
    from consent_service.ids import new_id

    visitors, policy_hash = _state["visitors"], _state["policy_hash"]
    rng = random.Random(bounds[0])
    lines = []
    for index in range(*bounds):
        moment = datetime.fromtimestamp(_state["start"] + _state["span"] * index / _state["rows"], UTC)
        record_id = new_id(moment.timestamp())
        visitor_id, key = visitors[rng.randrange(len(visitors))]
        method, choices = PATTERNS[rng.randrange(len(PATTERNS))]
        page_url = f"https://shop.example/products/{rng.randrange(5000)}"
        user_agent = USER_AGENTS[rng.randrange(len(USER_AGENTS))]
        row = {
            "id": record_id, "site_id": "demo", "visitor_id": visitor_id, "policy_version": 1,
            "policy_hash": policy_hash, "choices": choices, "method": method, "created_at": moment,
            "expires_at": (moment + timedelta(days=365 if method != "reject_all" else 182)).replace(microsecond=0),
            "language": "en" if rng.random() < 0.8 else "zh-CN",
            "ip_hash": desensitize_ip(f"203.0.{rng.randrange(256)}.7", "bench-pepper"),
            "gpc": rng.random() < 0.1, "banner_version": "1.0.0", "client_record_id": None,
        }
        protect_record(row, key, {"page_url": page_url, "user_agent": user_agent})
        row["choices"] = json.dumps(choices)
        lines.append("\t".join(_copy_value(row[name]) for name in COLUMNS))
    return ("\n".join(lines) + "\n").encode()


def load_records(database_url: str, rows: int, visitor_count: int) -> tuple[object, float]:
    """Migrate, sync the demo site, COPY the records and (wrapped) visitor keys; returns the app
    and the seconds it took. The database numbers the records (seq) in the order they are copied."""
    import psycopg
    from flask_migrate import upgrade

    from consent_service.app import create_app
    from consent_service.consents.visitor_keys import wrap_key
    from consent_service.crypto import new_key
    from consent_service.extensions import db
    from consent_service.ids import new_id
    from consent_service.sites.declaration import load_site_file
    from consent_service.sites.sync import sync_declarations

    app = create_app(env={**ENV, "DATABASE_URL": database_url})
    shared = app.extensions["consent"]
    with app.app_context():
        upgrade()
        sync_declarations(db.session, [load_site_file(ROOT / "sites" / "demo.toml")], shared.site_states)
        site = shared.site_states.get(db.session, "demo")
        db.engine.dispose()

    started = time.perf_counter()
    now = time.time()
    span = 400 * 86400.0
    visitors = [(new_id(now - span - 86400 + i), new_key()) for i in range(visitor_count)]
    plain_url = database_url
    with psycopg.connect(plain_url) as connection:
        with connection.cursor().copy("COPY visitor_keys (visitor_id, site_id, key, created_at) FROM STDIN") as copy:
            for visitor_id, visitor_key in visitors:
                copy.write_row((visitor_id, "demo", wrap_key(shared.keyring, "demo", visitor_id, visitor_key),
                                datetime.now(UTC)))
        chunk = 20_000
        bounds = [(first, min(first + chunk, rows)) for first in range(0, rows, chunk)]
        with multiprocessing.get_context("fork").Pool(
                os.cpu_count() or 2, initializer=_init_worker,
                initargs=(visitors, site.policy_hash, now - span, span - 3600, rows)) as pool, \
                connection.cursor().copy(f"COPY consent_records ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for data in pool.imap(_make_chunk, bounds):
                copy.write(data)
        connection.commit()
    loaded = time.perf_counter() - started
    with psycopg.connect(plain_url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE consent_records")
        connection.execute("VACUUM ANALYZE visitor_keys")
    return app, loaded


def load(database_url: str, rows: int, visitor_count: int) -> tuple[str, float]:
    """load_records, then seal everything; returns an export key."""
    from consent_service.auth import create_key
    from consent_service.compliance.seals import seal_pending
    from consent_service.extensions import db

    app, loaded = load_records(database_url, rows, visitor_count)
    shared = app.extensions["consent"]
    with app.app_context():
        key = create_key(db.session, "demo", "export", "bench")[1]
    sealing = time.perf_counter()
    with app.app_context():
        made = seal_pending(db.session, "demo", 1000, 300, shared.seal_signer, force=True,
                            now=datetime.now(UTC) + timedelta(minutes=5))
        sealed = len(made)
        db.engine.dispose()
    print(f"loaded {rows:,} records and {visitor_count:,} visitor keys in {loaded:.1f}s; "
          f"{sealed} seals in {time.perf_counter() - sealing:.1f}s", flush=True)
    return key, loaded


def copy_ceiling(database_url: str) -> tuple[float, int, int]:
    """COPY (SELECT <the export's columns> ...) TO STDOUT: rows/s, rows, bytes."""
    import psycopg

    from consent_service.compliance.export import export_query
    from consent_service.compliance.filters import ExportFilters

    sql, _ = export_query("postgresql", ExportFilters(), "demo")
    sql = sql.replace(":site_id", "'demo'")
    with psycopg.connect(database_url) as connection:
        started = time.perf_counter()
        size = lines = 0
        with connection.cursor().copy(f"COPY ({sql}) TO STDOUT") as copy:
            for block in copy:
                size += len(block)
                lines += bytes(block).count(b"\n")
        return lines / (time.perf_counter() - started), lines, size


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fetch(url: str, path: str, key: str, timeout: float) -> tuple[float, int, int, dict]:
    """GET and discard; returns seconds, bytes, lines and the summary of the last line."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    started = time.perf_counter()
    connection.request("GET", path, headers={"Authorization": f"Bearer {key}"})
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status} {response.read()[:300]!r}")
    size = lines = 0
    tail = b""
    while True:
        block = response.read(1 << 20)
        if not block:
            break
        size += len(block)
        lines += block.count(b"\n")
        tail = (tail + block)[-4096:]
    elapsed = time.perf_counter() - started
    connection.close()
    last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1].decode()
    summary = json.loads(next(csv.reader([last]))[1] if last.startswith("#summary") else last)
    return elapsed, size, lines, summary["summary"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--visitors", type=int, default=5_000)
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per export")
    args = parser.parse_args()

    with scratch_database("consent_export_bench") as database_url:
        key, _ = load(database_url, args.rows, args.visitors)
        copy_ceiling(database_url)  # warm the cache
        copy_rate, copy_rows, copy_bytes = copy_ceiling(database_url)
        env = {**ENV, "DATABASE_URL": database_url, "GUNICORN_CMD_ARGS": f"--timeout {int(args.timeout)}"}
        results = []
        with gunicorn("wsgi:app", env, workers=1) as (url, master):
            worker = worker_pid(master)
            fetch(url, "/v1/sites/demo/exports/consents?until=2000-01-01", key, args.timeout)  # warm up
            baseline = peak_rss_mb(worker)
            for fmt in ("ndjson", "csv"):
                elapsed, size, lines, summary = fetch(url, f"/v1/sites/demo/exports/consents?format={fmt}", key,
                                                      args.timeout)
                if summary["count"] != args.rows:
                    raise RuntimeError(f"{fmt}: exported {summary['count']} of {args.rows} records")
                results.append((fmt, summary["count"] / elapsed, size, elapsed, peak_rss_mb(worker)))

    print(f"\nExport of {args.rows:,} records ({args.visitors:,} visitors), PostgreSQL, gunicorn 1 sync worker, "
          f"personal fields decrypted, {os.cpu_count()} CPUs")
    print(f"{'':<34}{'rows/s':>12}{'MB':>9}{'seconds':>9}{'vs COPY':>9}{'peak RSS MB':>13}")
    print(f"{'COPY (SELECT ...) TO STDOUT':<34}{copy_rate:>12,.0f}{copy_bytes / 1e6:>9.0f}"
          f"{copy_rows / copy_rate:>9.1f}{1:>9.2f}{'':>13}")
    for fmt, rate, size, elapsed, rss in results:
        print(f"{'GET /exports/consents ' + fmt:<34}{rate:>12,.0f}{size / 1e6:>9.0f}{elapsed:>9.1f}"
              f"{rate / copy_rate:>9.2f}{rss:>13.0f}")
    print(f"worker peak RSS before the exports (app loaded, one empty export): {baseline:.0f} MB")
    print("targets: >= 0.20 of COPY's rows/s, peak RSS < 200 MB")


if __name__ == "__main__":
    main()
