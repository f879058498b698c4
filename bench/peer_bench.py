"""The write path against a real peer: CPU per durable write and throughput, ours beside c15t.

c15t (npm `@c15t/backend` 2.2.1) is an open-source consent backend in TypeScript. This bench
installs it at bench time, sets it up the way its self-hosting docs do (Kysely over a `pg` Pool on
PostgreSQL, `c15tInstance`, its fetch handler under `@hono/node-server`) in a two-process
`node:cluster`, and POSTs a new subject's consent the way its browser client does. Our service runs
beside it with 2 gunicorn workers (sync by default, as core_bench; `--threads N` for the Procfile's
gthread kind) on PostgreSQL and a private Redis, and POSTs a new visitor's consent as core_bench does.

    .venv/bin/python -m bench.peer_bench [--seconds 20] [--rounds 3] [--connections 8] [--threads N]
                                         [--skip-install]

What it does, in order:

1. npm-installs `@c15t/backend@2.2.1`, `kysely@0.28.x`, `pg` and `@hono/node-server` into a cache
   directory outside the repository ($XDG_CACHE_HOME or ~/.cache, then `consent-bench/c15t-2.2.1`),
   reused when already there (`--skip-install` insists on reuse). c15t declares node >= 22; it runs
   on node 20 with an engine warning. The JS that drives it is ours, in bench/peer_c15t/ (a cluster
   server and a migrate script); it is copied beside the installed packages so that node resolves
   them. The peer's own code is never in this repository.
2. Makes three scratch PostgreSQL databases: ours; c15t as shipped; c15t with
   `CREATE INDEX ON consent ("subjectId")` added after its migrations (a fresh database, so both c15t
   variants start empty and grow alike: c15t's duplicate check scans `consent` without that index
   and slows as the table grows, which is why each round's table size is printed).
3. Starts a private redis-server (no persistence, as the machine's shared one) on a free port for
   ours alone, our gunicorn, and the two c15t clusters, each on a free port; everything started is
   stopped by its process id at the end, on failure and on Ctrl-C too.
4. After a 5 s warm-up of each server (the node JIT needs a few thousand requests; ours fills its
   caches), runs alternating rounds of `--seconds` each at the same connections:
   ours, c15t, c15t+index, ours, c15t, c15t+index, ... with wrk (1 thread) and a Lua script that
   makes every request a new visitor/subject, counts 2xx answers apart from the rest in a
   `response()` hook, and stops sending at the deadline (via `delay()`), so that no request is in
   flight when the round ends: rows stored can then be held to equal the 2xx answers exactly.
5. Checks durability: after each round, rows added (ours: `consent_records`; c15t: `consent`) must
   equal the 2xx answers. A mismatch is printed loudly and makes the bench exit 1; non-2xx answers
   are printed with their status and one body.
6. Measures CPU per durable write from /proc: utime+stime of the service's processes (gunicorn
   master + workers; node cluster primary + workers), of the PostgreSQL client backends serving that
   side's database (pids from `pg_stat_activity`), and of the private Redis (ours only: c15t does
   not use Redis). See `CpuSampler` for how processes that come and go mid-round are counted. Not
   counted on either side: wrk; PostgreSQL's server-wide processes (WAL writer, checkpointer,
   autovacuum), which the machine's other work shares; our `sealer`, which the bench does not run.
   Transactions committed and rows inserted per write come from pg_stat_database over the whole run.

It prints every round (with the cores that other work on the machine kept busy meanwhile: total busy
time from /proc/stat less this side's processes and wrk), then for each side its best round for
throughput (writes/s = 2xx answers per second of sending; p50/p99 from wrk) and its median round for
CPU per write (the round whose total is the median, the lower middle one of an even count; its
components are that round's), rows = 2xx, and the ratios ours / c15t (as shipped and indexed), also
round by round. Then what each write stores on each side, so the comparison is read honestly. The
machine's cores are shared with other work: CPU per write is steadier than writes/s, and both are
best read beside the "elsewhere" column. The default run takes about 4 minutes.

Needs: the npm registry (first run), node and npm, wrk (Debian package `wrk`), PostgreSQL on
127.0.0.1:5432 with user `postgres` under trust auth (BENCH_POSTGRES_URL to change), the
`redis-server` binary (BENCH_REDIS_SERVER to name another), and `make install` for our service.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.core_bench import ORIGIN, post_lua, prepare
from bench.support import POSTGRES_ADMIN_URL, ROOT, _ms, free_port, gunicorn, scratch_database, table
from consent_service.devserver import stop_group

C15T_VERSION = "2.2.1"
#: What npm installs: c15t pinned, kysely to the minor its adapter was checked with, the rest current.
PACKAGES = [f"@c15t/backend@{C15T_VERSION}", "kysely@~0.28.0", "pg", "@hono/node-server"]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "consent-bench" / f"c15t-{C15T_VERSION}"
JS_DIR = ROOT / "bench" / "peer_c15t"
REDIS_SERVER = os.environ.get("BENCH_REDIS_SERVER", "redis-server")
WARM_UP_SECONDS = 5
#: wrk keeps running this long after the Lua deadline, so the answers in flight then arrive.
TAIL_SECONDS = 3
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
SAMPLE_EVERY = 0.2
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

WHAT_IS_STORED = """\
What one write does and stores on each side (read the figures with this in mind):
  ours:  a consent_records row and a visitor_keys row (a key of the visitor's own); user agent and
         page URL encrypted (AES-256-GCM under that key) with keyed digests; the IP truncated and
         hashed with a server-side pepper (never stored in clear); every category's choice; a record
         digest over all proof fields; a Redis rate-limit check and cache write; answers with a
         signed token. Records are sealed in batches later by the `sealer` process, which this bench
         does not run: its CPU is not in these figures.
  c15t:  a subject row and a consent row (about 12 SQL statements, 2 commits); ids of the granted
         purposes only; the IP (from X-Forwarded-For) masked to /24 and the user agent, both in
         clear; the client's givenAt; no encryption, no digest or seal, no signed token returned."""


# ---------------------------------------------------------------- the peer: install, migrate, serve

def _installed_version(package: str) -> str | None:
    manifest = CACHE / "node_modules" / package / "package.json"
    try:
        return json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def _installed() -> dict[str, str | None]:
    return {name: _installed_version(name) for name in ("@c15t/backend", "kysely", "pg", "@hono/node-server")}


def _install_complete(versions: dict[str, str | None]) -> bool:
    return (versions["@c15t/backend"] == C15T_VERSION and (versions["kysely"] or "").startswith("0.28.")
            and all(versions.values()))


def install_peer(skip_install: bool) -> dict[str, str | None]:
    """The peer's packages in CACHE (installed once, then reused), and our JS copied beside them."""
    versions = _installed()
    if not _install_complete(versions):
        if skip_install:
            raise SystemExit(f"--skip-install: c15t {C15T_VERSION} is not installed in the bench cache "
                             f"({CACHE}); run once without --skip-install")
        for tool in ("node", "npm"):
            if shutil.which(tool) is None:
                raise SystemExit(f"{tool} is needed to run c15t")
        CACHE.mkdir(parents=True, exist_ok=True)
        manifest = CACHE / "package.json"
        if not manifest.exists():
            manifest.write_text(json.dumps({"name": "consent-bench-c15t", "private": True}) + "\n")
        print(f"installing {' '.join(PACKAGES)} with npm (c15t declares node >= 22; node 20 gives an "
              "engine warning)", flush=True)
        subprocess.run(["npm", "install", "--save-exact", "--no-audit", "--no-fund", "--loglevel=error",
                        *PACKAGES], cwd=CACHE, check=True)
        versions = _installed()
        if not _install_complete(versions):
            raise SystemExit(f"npm did not install what the bench needs: {versions}")
    for script in ("server.mjs", "migrate.mjs"):
        shutil.copyfile(JS_DIR / script, CACHE / f"bench-{script}")
    return versions


def migrate_c15t(database_url: str, index: bool) -> None:
    subprocess.run(["node", "bench-migrate.mjs"], cwd=CACHE, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "DATABASE_URL": database_url})
    if index:
        _execute(database_url, 'CREATE INDEX ON consent ("subjectId")')


@contextlib.contextmanager
def c15t_cluster(database_url: str, workers: int = 2) -> Iterator[tuple[str, int]]:
    """c15t in a node cluster on a free loopback port; yields (base URL, primary's pid); stops it by pid."""
    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="c15t-bench-", suffix=".log", delete=False)
    env = {**os.environ, "PORT": str(port), "WORKERS": str(workers), "DATABASE_URL": database_url,
           "TRUSTED_ORIGIN": ORIGIN, "NODE_ENV": "production"}
    process = subprocess.Popen(["node", "bench-server.mjs"], cwd=CACHE, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while "c15t-bench ready" not in Path(log.name).read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"c15t did not start:\n{Path(log.name).read_text()[-2000:]}")
            time.sleep(0.1)
        urllib.request.urlopen(url + "/api/c15t/status", timeout=5).read()  # noqa: S310 (loopback)
        yield url, process.pid
    finally:
        stop_group(process)
        text = Path(log.name).read_text()
        log.close()
        os.unlink(log.name)
        if "exited" in text or "Error" in text:
            print(f"c15t's log:\n{text[-2000:]}")


@contextlib.contextmanager
def private_redis() -> Iterator[tuple[str, int]]:
    """A redis-server of our own on a free port, no persistence; yields (URL, pid); stops it by pid."""
    if shutil.which(REDIS_SERVER) is None:
        raise SystemExit(f"the redis-server binary is needed ({REDIS_SERVER}; BENCH_REDIS_SERVER to change)")
    port = free_port()
    process = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
                               stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        import redis

        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0", process.pid
    finally:
        stop_group(process)




# ---------------------------------------------------------------- databases

def _execute(database_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(sql)


def _wait_for_no_backends(database_url: str, timeout: float = 10) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        while time.monotonic() < deadline and connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                (database_url.rsplit("/", 1)[1],)).fetchone()[0]:
            time.sleep(0.1)


def _count(database_url: str, table_name: str) -> int:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as connection:
        return connection.execute(f"SELECT count(*) FROM {table_name}").fetchone()[0]


def _database_stats(database_url: str) -> tuple[int, int]:
    """(transactions committed, rows inserted) in a database so far, from pg_stat_database. A backend
    flushes its counts at most once a second while busy and 10 s after it goes idle (PostgreSQL 15),
    so only a span followed by 10 s of quiet is counted in full."""
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        return connection.execute("SELECT xact_commit, tup_inserted FROM pg_stat_database WHERE datname = %s",
                                  (database_url.rsplit("/", 1)[1],)).fetchone()


# ---------------------------------------------------------------- CPU from /proc

def _descendants(pid: int) -> set[int]:
    """pid and every process below it (from /proc/<pid>/task/<tid>/children)."""
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        found.add(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{current}/task/{task}/children") as children:
                    todo.extend(int(child) for child in children.read().split())
    return found


def _machine_busy_ms() -> float:
    """CPU time the whole machine spent busy so far (all cores; /proc/stat, not idle nor iowait)."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) * TICK_MS


def _children_ms() -> float:
    """CPU time of this process's waited-for children (wrk, during a round)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1000


def _service(pid: int) -> dict[str, Callable[[], set[int]]]:
    """A server's components: the process started (gunicorn master, node cluster primary) and its workers."""
    return {"workers": lambda: _descendants(pid) - {pid}, "primary": lambda: {pid}}


def _ticks(pid: int) -> tuple[int, int] | None:
    """(start time, utime + stime) of a process in clock ticks, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # fields[0] is field 3 (state): utime and stime are fields 14 and 15, starttime field 22.
    return int(fields[19]), int(fields[11]) + int(fields[12])


@dataclass
class CpuSampler:
    """Reads utime+stime of each component's processes every SAMPLE_EVERY seconds while a round runs.

    `components` maps a name to a function that returns that component's pids at the moment. A process
    present at the first sample counts from its ticks then; one that appears later (a PostgreSQL
    backend connecting mid-round, a restarted worker) counts from zero, its start-up included; one
    that exits mid-round counts up to its last sample, so at most SAMPLE_EVERY of its CPU is lost
    (backends exit when idle, so in practice nothing). A process is keyed by (pid, start time), so a
    reused pid is a new process.
    """

    components: dict[str, Callable[[], set[int]]]
    first: dict[tuple[str, int, int], int] = field(default_factory=dict)
    last: dict[tuple[str, int, int], int] = field(default_factory=dict)

    def sample(self, initial: bool = False) -> None:
        for name, pids in self.components.items():
            for pid in pids():
                read = _ticks(pid)
                if read is None:
                    continue
                key = (name, pid, read[0])
                self.first.setdefault(key, read[1] if initial else 0)
                self.last[key] = read[1]

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        self.sample(initial=True)
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(SAMPLE_EVERY):
                self.sample()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.sample()

    def ms(self) -> dict[str, float]:
        totals = dict.fromkeys(self.components, 0.0)
        for key, ticks in self.last.items():
            totals[key[0]] += (ticks - self.first[key]) * TICK_MS
        return totals


class Backends:
    """pids of the PostgreSQL client backends connected to one database, asked of pg_stat_activity over
    a connection to the admin database (so this watcher is not one of them)."""

    def __init__(self) -> None:
        import psycopg

        self.connection = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True)
        self.lock = threading.Lock()

    def of(self, database_url: str) -> Callable[[], set[int]]:
        name = database_url.rsplit("/", 1)[1]

        def pids() -> set[int]:
            with self.lock:
                rows = self.connection.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'",
                    (name,)).fetchall()
            return {row[0] for row in rows}

        return pids

    def close(self) -> None:
        self.connection.close()


# ---------------------------------------------------------------- load: wrk and its Lua

#: Appended to each side's request() script: a clock, a deadline after which nothing more is sent,
#: 2xx counted apart from the rest, and a summary printed by done().
LUA_HOOKS = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *now);
]]
local bench_now = ffi.new("bench_timespec")
local function monotonic()
  ffi.C.clock_gettime(1, bench_now)
  return tonumber(bench_now.tv_sec) + tonumber(bench_now.tv_nsec) * 1e-9
end
function wall_ms()
  ffi.C.clock_gettime(0, bench_now)
  return tonumber(bench_now.tv_sec) * 1000 + math.floor(tonumber(bench_now.tv_nsec) / 1e6)
end

local bench_threads = {}
function setup(thread)
  table.insert(bench_threads, thread)
end

local started, deadline, last_answer = 0, 0, 0
ok, bad, sent, statuses, sample, elapsed = 0, 0, 0, "", "", 0
local status_counts = {}

local side_request = request
local verified = false
request = function()
  -- wrk calls request() once before the run to check it (its script_verify_request); after that
  -- only when it writes a request to a connection
  if verified then sent = sent + 1 else verified = true end
  return side_request()
end

function init(args)
  started = monotonic()
  deadline = started + __SECONDS__
end

function delay()
  if monotonic() >= deadline then
    return 3600000 -- past the deadline: send nothing more; wrk stops before this comes due
  end
  return 0
end

function response(status, headers, body)
  last_answer = monotonic()
  elapsed = last_answer - started
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    bad = bad + 1
    status_counts[status] = (status_counts[status] or 0) + 1
    local parts = {}
    for code, count in pairs(status_counts) do table.insert(parts, code .. "x" .. count) end
    statuses = table.concat(parts, ",")
    if sample == "" then sample = string.sub(body or "", 1, 300):gsub("\\n", " ") end
  end
end

function done(summary, latency, requests)
  for _, thread in ipairs(bench_threads) do
    io.write(string.format("BENCH ok=%d bad=%d unanswered=%d elapsed=%.4f\\n", thread:get("ok"),
                           thread:get("bad"), thread:get("sent") - thread:get("ok") - thread:get("bad"),
                           thread:get("elapsed")))
    io.write("BENCH statuses=" .. thread:get("statuses") .. "\\n")
    io.write("BENCH sample=" .. thread:get("sample") .. "\\n")
  end
end
"""


def ours_lua(seconds: int) -> str:
    """core_bench's POST of a new visitor's consent, with the hooks."""
    return post_lua(secrets.token_hex(4)) + LUA_HOOKS.replace("__SECONDS__", str(seconds))


def c15t_lua(seconds: int) -> str:
    """POST /api/c15t/subjects as c15t's browser client sends it for a new subject: a new
    `sub_<base58>` id per request (27 base58 characters, as its 20-byte ids), the banner's
    preferences, givenAt in ms; Origin in trustedOrigins; the client's address in X-Forwarded-For
    (where c15t reads it, as behind a proxy)."""
    tag = "".join(secrets.choice(BASE58) for _ in range(12))
    preferences = {"necessary": True, "functionality": False, "measurement": True, "marketing": False,
                   "experience": False}
    before = json.dumps({"type": "cookie_banner", "subjectId": "SUBJECT"}).split('"SUBJECT"')[0]
    after = json.dumps({"domain": "127.0.0.1", "preferences": preferences})[1:-1]
    tail = json.dumps({"jurisdiction": "GDPR", "jurisdictionModel": "opt-in", "uiSource": "banner",
                       "consentAction": "custom"})[1:]
    return f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Origin"] = "{ORIGIN}"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) bench"
local alphabet = "{BASE58}"
local function base58(n, width)
  local out = ""
  while n > 0 do
    local digit = n % 58
    out = string.sub(alphabet, digit + 1, digit + 1) .. out
    n = (n - digit) / 58
  end
  return string.rep("1", width - #out) .. out
end
local counter = 0
request = function()
  counter = counter + 1
  local body = '{before}"sub_{tag}' .. base58(counter, 15) .. '", {after}, "givenAt": ' .. wall_ms()
    .. ', {tail}'
  wrk.headers["X-Forwarded-For"] = "203.0.113." .. (counter % 250 + 1)
  return wrk.format(nil, "/api/c15t/subjects", nil, body)
end
""" + LUA_HOOKS.replace("__SECONDS__", str(seconds))


@dataclass
class Load:
    ok: int
    bad: int
    unanswered: int
    socket_errors: int
    elapsed: float
    p50_ms: float
    p99_ms: float
    statuses: str
    sample: str




def run_wrk(url: str, lua: str, seconds: int, connections: int) -> Load:
    """wrk, 1 thread (the services share the other core), sending for `seconds`, then a quiet tail."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    try:
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds + TAIL_SECONDS}s", "--latency",
                   "--timeout", "10s", "-s", script.name, url]
        result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.unlink(script.name)
    output = result.stdout
    try:
        ok, bad, unanswered, elapsed = re.search(
            r"^BENCH ok=(\d+) bad=(\d+) unanswered=(-?\d+) elapsed=([\d.]+)$", output, re.M).groups()
        p50 = _ms(re.search(r"^\s*50%\s+(\S+)", output, re.M).group(1))
        p99 = _ms(re.search(r"^\s*99%\s+(\S+)", output, re.M).group(1))
    except AttributeError:
        raise RuntimeError(f"could not read wrk's output:\n{output}\n{result.stderr}") from None
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return Load(ok=int(ok), bad=int(bad), unanswered=int(unanswered),
                socket_errors=sum(map(int, socket.groups())) if socket else 0,
                elapsed=float(elapsed), p50_ms=p50, p99_ms=p99,
                statuses=re.search(r"^BENCH statuses=(.*)$", output, re.M).group(1),
                sample=re.search(r"^BENCH sample=(.*)$", output, re.M).group(1))


# ---------------------------------------------------------------- a side and its rounds

@dataclass
class Side:
    name: str
    url: str
    path: str
    database_url: str
    table_name: str
    lua: Callable[[int], str]
    sampler_components: dict[str, Callable[[], set[int]]]


@dataclass
class Round:
    side: str
    number: int
    load: Load
    rows: int
    table_rows: int
    cpu_ms: dict[str, float]
    #: Cores busy with anything but this side and wrk during the round (other work on the machine).
    elsewhere: float

    @property
    def consistent(self) -> bool:
        return self.rows == self.load.ok

    @property
    def writes_per_second(self) -> float:
        return self.load.ok / self.load.elapsed if self.load.elapsed else 0.0

    def per_write(self, component: str | None = None) -> float:
        spent = sum(self.cpu_ms.values()) if component is None else self.cpu_ms.get(component, 0.0)
        return spent / self.rows if self.rows else float("nan")


def run_round(side: Side, number: int, seconds: int, connections: int) -> Round:
    before = _count(side.database_url, side.table_name)
    sampler = CpuSampler(side.sampler_components)
    machine, children, started = _machine_busy_ms(), _children_ms(), time.monotonic()
    with sampler.running():
        load = run_wrk(side.url + side.path, side.lua(seconds), seconds, connections)
    wall_ms = (time.monotonic() - started) * 1000
    machine, children = _machine_busy_ms() - machine, _children_ms() - children
    after = _count(side.database_url, side.table_name)
    cpu = sampler.ms()
    elsewhere = max(0.0, (machine - children - sum(cpu.values())) / wall_ms)
    result = Round(side.name, number, load, after - before, after, cpu, elsewhere)
    label = "warm-up" if number == 0 else f"round {number}"
    print(f"  {label:8} {side.name:12} {result.writes_per_second:8,.0f} writes/s  "
          f"{result.per_write():6.2f} ms CPU/write  rows {result.rows} / 2xx {load.ok}  "
          f"table {after:,}  cores busy elsewhere {elsewhere:.2f}", flush=True)
    if load.unanswered:
        print(f"  !! {side.name}: {load.unanswered} requests sent were unanswered when wrk stopped", flush=True)
    if load.bad:
        print(f"  !! {side.name}: {load.bad} non-2xx answers ({load.statuses}); the first one's body: {load.sample}",
              flush=True)
    if load.socket_errors:
        # With every request sent answered, an error can only be on an idle connection: after the
        # deadline gunicorn's gthread workers close keep-alive connections idle for 2 s, for one.
        note = "every request sent was answered" if not load.unanswered else "!! requests may be lost"
        print(f"  {side.name}: {load.socket_errors} socket errors ({note})", flush=True)
    if result.rows != load.ok:
        print(f"\n  !!!!! DURABILITY MISMATCH: {side.name} {label}: {result.rows} rows stored but {load.ok} "
              f"2xx answers !!!!!\n", flush=True)
    return result


def median_round(rounds: list[Round]) -> Round:
    """The round whose total CPU per write is the median (the lower middle one of an even count)."""
    ordered = sorted(rounds, key=lambda r: r.per_write())
    return ordered[(len(ordered) - 1) // 2]


def best_round(rounds: list[Round]) -> Round:
    """The round with the most writes per second: other work on the machine only ever slows a round."""
    return max(rounds, key=lambda r: r.writes_per_second)


# ---------------------------------------------------------------- report

COMPONENTS = ["workers", "primary", "postgres", "redis"]


def report(sides: list[Side], rounds: dict[str, list[Round]], args: argparse.Namespace, workers: str,
           versions: dict[str, str | None], statements: dict[str, tuple[float, float]]) -> None:
    print("\nEvery round (CPU ms per durable write, in total and by component; table rows = rows in the side's "
          "table at the round's end;\nelsewhere = cores busy with other work on the machine during the round)")
    rows = [["round", "side", "writes/s", "p50 ms", "p99 ms", "CPU ms/write", *COMPONENTS, "rows = 2xx",
             "table rows", "elsewhere"]]
    for number in range(1, args.rounds + 1):
        for side in sides:
            r = rounds[side.name][number - 1]
            rows.append([str(number), side.name, f"{r.writes_per_second:,.0f}", f"{r.load.p50_ms:.2f}",
                         f"{r.load.p99_ms:.2f}", f"{r.per_write():.2f}", *_components(side, r),
                         f"{r.rows} = {r.load.ok}" if r.rows == r.load.ok else f"{r.rows} != {r.load.ok} !!",
                         f"{r.table_rows:,}", f"{r.elsewhere:.2f}"])
    print(table(rows))

    print(f"\nThe write path: ours (gunicorn {workers}, PostgreSQL + private Redis) beside c15t "
          f"{versions['@c15t/backend']} (node {_node_version()} cluster of 2, kysely {versions['kysely']}, "
          f"pg {versions['pg']});\nwrk 1 thread x {args.connections} connections x {args.seconds}s per round, "
          f"{args.rounds} alternating rounds.\nThroughput: each side's best round (other work on the machine only "
          "slows a round down; c15t's best is usually its first, smallest table).\nCPU per write: each side's "
          "median round by total (its components are that round's, so they add up).")
    lines = [["side", "writes/s", "p50 ms", "p99 ms", "(round)", "CPU ms/write", *COMPONENTS, "(round)",
              "rows = 2xx"]]
    best = {side.name: best_round(rounds[side.name]) for side in sides}
    median = {side.name: median_round(rounds[side.name]) for side in sides}
    for side in sides:
        b, m = best[side.name], median[side.name]
        lines.append([side.name, f"{b.writes_per_second:,.0f}", f"{b.load.p50_ms:.2f}", f"{b.load.p99_ms:.2f}",
                      str(b.number), f"{m.per_write():.2f}", *_components(side, m), str(m.number),
                      "yes, every round" if all(x.consistent for x in rounds[side.name]) else "NO"])
    print(table(lines))
    print("(workers = gunicorn's or the node cluster's workers; primary = the gunicorn master or the cluster "
          "primary;\n postgres = the client backends of that side's database; redis = our private redis-server, "
          "which c15t does not use)")
    ours = sides[0].name
    for side in sides[1:]:
        per_round = [(o.writes_per_second / p.writes_per_second, o.per_write() / p.per_write())
                     for o, p in zip(rounds[ours], rounds[side.name], strict=True)]
        print(f"ours / {side.name}: throughput x{best[ours].writes_per_second / best[side.name].writes_per_second:.2f}"
              f" (round by round: {', '.join(f'x{t:.2f}' for t, _ in per_round)}), "
              f"CPU per write x{median[ours].per_write() / median[side.name].per_write():.2f}"
              f" (round by round: {', '.join(f'x{c:.2f}' for _, c in per_round)})")
    print("per write over the whole run (pg_stat_database; an autocommitted statement is a transaction of its own):")
    for name, (commits, inserts) in statements.items():
        print(f"  {name:11} {commits:4.1f} transactions committed, {inserts:.1f} rows inserted")
    print("targets for ours: <= 2.0 ms CPU per write; >= 2 x c15t+index's throughput")
    print()
    print(WHAT_IS_STORED)


def _components(side: Side, r: Round) -> list[str]:
    return [f"{r.per_write(c):.2f}" if c in side.sampler_components else "-" for c in COMPONENTS]


def _node_version() -> str:
    return subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()


# ---------------------------------------------------------------- main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=20, help="seconds of sending per round (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per side (default 3)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0,
                        help="ours on gthread workers with N threads, the Procfile's kind (default: sync workers)")
    parser.add_argument("--skip-install", action="store_true", help="use the installed c15t, never npm")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    versions = install_peer(args.skip_install)
    print(f"c15t from the bench cache: {', '.join(f'{k} {v}' for k, v in versions.items())}", flush=True)

    server = dict(worker_class="gthread", threads=args.threads) if args.threads else dict(worker_class="sync")
    workers = f"2 gthread workers x {args.threads} threads" if args.threads else "2 sync workers"
    with contextlib.ExitStack() as databases:
        ours_db = databases.enter_context(scratch_database("peer_bench_ours"))
        c15t_db = databases.enter_context(scratch_database("peer_bench_c15t"))
        indexed_db = databases.enter_context(scratch_database("peer_bench_c15t_indexed"))
        migrate_c15t(c15t_db, index=False)
        migrate_c15t(indexed_db, index=True)
        with contextlib.ExitStack() as stack:
            redis_url, redis_pid = stack.enter_context(private_redis())
            env = {"DATABASE_URL": ours_db, "REDIS_URL": redis_url,
                   "SECRET_KEYS": f"{secrets.token_urlsafe(32)},{secrets.token_urlsafe(32)}",
                   "IP_PEPPER": secrets.token_urlsafe(16), "RATE_LIMIT_WRITES": "100000000/minute",
                   "SITE_CACHE_SECONDS": "5"}
            prepare(ours_db, env, visitors=1)
            ours_url, ours_pid = stack.enter_context(gunicorn("wsgi:app", env, **server))
            c15t_url, c15t_pid = stack.enter_context(c15t_cluster(c15t_db))
            indexed_url, indexed_pid = stack.enter_context(c15t_cluster(indexed_db))
            backends = Backends()
            stack.callback(backends.close)
            sides = [
                Side("ours", ours_url, "/v1/sites/demo/consents", ours_db, "consent_records", ours_lua,
                     {**_service(ours_pid), "postgres": backends.of(ours_db), "redis": lambda: {redis_pid}}),
                Side("c15t", c15t_url, "/api/c15t/subjects", c15t_db, "consent", c15t_lua,
                     {**_service(c15t_pid), "postgres": backends.of(c15t_db)}),
                Side("c15t+index", indexed_url, "/api/c15t/subjects", indexed_db, "consent", c15t_lua,
                     {**_service(indexed_pid), "postgres": backends.of(indexed_db)}),
            ]
            stats_before = {side.name: _database_stats(side.database_url) for side in sides}
            print(f"warm-up ({WARM_UP_SECONDS} s each), then {args.rounds} rounds of {args.seconds} s "
                  f"(ours: gunicorn {workers}):", flush=True)
            warm = [run_round(side, 0, WARM_UP_SECONDS, args.connections) for side in sides]
            rounds: dict[str, list[Round]] = {side.name: [] for side in sides}
            for number in range(1, args.rounds + 1):
                for side in sides:  # alternate, so a noisy moment hurts every side alike
                    rounds[side.name].append(run_round(side, number, args.seconds, args.connections))
        # The servers are stopped: once their backends are gone, every count they kept is flushed.
        statements = {}
        for side, warm_up in zip(sides, warm, strict=True):
            _wait_for_no_backends(side.database_url)
            commits, inserts = (after - before for after, before in
                                zip(_database_stats(side.database_url), stats_before[side.name], strict=True))
            writes = warm_up.rows + sum(r.rows for r in rounds[side.name])
            statements[side.name] = (commits / writes, inserts / writes)
    report(sides, rounds, args, workers, versions, statements)
    mismatches = [r for r in warm + [r for rs in rounds.values() for r in rs] if r.rows != r.load.ok]
    if mismatches:
        print(f"\nFAILED: rows stored differ from 2xx answers in {len(mismatches)} round(s): "
              + ", ".join(f"{r.side} round {r.number} ({r.rows} rows, {r.load.ok} 2xx)" for r in mismatches))
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the context managers have stopped every process and dropped the databases
        print("\ninterrupted: every process the bench started is stopped, its databases dropped")
        sys.exit(130)
