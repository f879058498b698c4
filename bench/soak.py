"""`make soak`: prove that nothing is lost while the service's dependencies fail under load.

Starts its own PostgreSQL and Redis on private loopback ports and two service instances (gunicorn
with the Procfile's configuration), drives simulated banners that resend each choice with its
`client_record_id` until it is acknowledged (as the banner's queue does: 5xx, 429 and network
errors are retried; other 4xx are final), reads every acknowledged choice back from the other
instance, and meanwhile kills and restarts Redis, stalls it, terminates the database sessions,
SIGKILLs a worker and restarts PostgreSQL. Then it counts, runs `proof verify` and stops everything
by process id (also on failure).

    .venv/bin/python -m bench.soak [--seconds 300] [--banners 16] [--quick]

Fails (exit 1) unless no acknowledged choice is lost, none is stored twice, no read after an
acknowledged write answered an older choice, no answer was a 500, every choice was acknowledged
once the dependencies were back, and `proof verify` passes.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.support import BIN, ROOT, free_port
from consent_service.devserver import RedisServer, stop_group

ORIGIN = "http://127.0.0.1:8000"
CATEGORIES = ("necessary", "preferences", "analytics", "marketing")
WORKERS_PER_INSTANCE = 2


# ----------------------------------------------------------------------------------- the servers

class Postgres:
    """A throwaway PostgreSQL cluster on a free loopback port (run as the `postgres` user when we
    are root, as PostgreSQL requires)."""

    def __init__(self, workdir: Path) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        initdb = found[-1] if found else shutil.which("initdb")
        if not initdb:
            raise SystemExit("soak: PostgreSQL's initdb was not found (apt-get install postgresql)")
        self.bin = Path(initdb).parent
        self.data = workdir / "pg"
        self.data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
        self.port = free_port()
        self._run([self.bin / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                   "--no-sync"])
        self.start()

    def _run(self, command: list[Any], check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(part) for part in command]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=120)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c max_connections=300 "
                   "-c fsync=on -c synchronous_commit=on")
        self._run([self.bin / "pg_ctl", "-D", self.data, "-o", options, "-l", self.data / "server.log",
                   "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        self._run([self.bin / "pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop"], check=False)

    def pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int((self.data / "postmaster.pid").read_text().split()[0])
        return None

    def destroy(self) -> None:
        self.stop("fast")
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class Instance:
    """One service instance: gunicorn with gunicorn_conf.py (the Procfile's web process)."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str) -> None:
        self.port = free_port()
        command = [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn_conf.py"), "wsgi:app"]
        from gunicorn.config import KNOWN_SETTINGS

        if any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS):
            command[-1:-1] = ["--no-control-socket"]
        self.log = workdir / f"{name}.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, **env, "PORT": str(self.port), "BIND_HOST": "127.0.0.1",
                     "WEB_CONCURRENCY": str(WORKERS_PER_INSTANCE)})
        deadline = time.monotonic() + 60
        while not self.healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start; see {self.log}")
            time.sleep(0.2)

    def healthy(self) -> bool:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        except OSError:
            return False

    def workers(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        with contextlib.suppress(OSError):
            return [int(pid) for pid in path.read_text().split()]
        return []

    def stop(self) -> None:
        stop_group(self.process, seconds=20)


# ----------------------------------------------------------------------------------- the banners

class Tally:
    """What every banner saw, shared between their threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answers: Counter[str] = Counter()
        self.request_ms: list[float] = []
        self.choice_ms: list[float] = []
        self.attempted: set[str] = set()
        self.acknowledged: dict[str, str] = {}  # client_record_id -> record_id
        self.refused: Counter[str] = Counter()
        self.reads = self.stale = self.unreadable = 0
        self.stale_examples: list[str] = []


class Banner(threading.Thread):
    """One visitor's banner: makes choices one after another and resends each until it is
    acknowledged, then has the backend read it back from the other instance."""

    def __init__(self, index: int, ports: list[int], read_key: str, tally: Tally, stop_choosing: threading.Event,
                 give_up_at: list[float]) -> None:
        super().__init__(name=f"banner-{index}", daemon=True)
        self.ports, self.read_key, self.tally = ports, read_key, tally
        self.stop_choosing, self.give_up_at = stop_choosing, give_up_at
        self.random = random.Random(index)
        self.token: str | None = None
        self.visitor_id: str | None = None
        self.connections: dict[int, http.client.HTTPConnection] = {}

    def _request(self, port: int, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        connection = self.connections.get(port)
        if connection is None:
            connection = self.connections[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            raw = response.read()
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
                del self.connections[port]
        except (OSError, http.client.HTTPException):
            connection.close()
            self.connections.pop(port, None)
            raise
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = {}
        return response.status, answer if isinstance(answer, dict) else {}

    def _choice(self) -> dict[str, Any]:
        methods = ["accept_all", "reject_all", "custom"] + (["withdraw"] if self.token else [])
        method = self.random.choice(methods)
        if method == "accept_all":
            choices = dict.fromkeys(CATEGORIES, True)
        elif method in ("reject_all", "withdraw"):
            choices = {c: c == "necessary" for c in CATEGORIES}
        else:
            choices = {c: c == "necessary" or self.random.random() < 0.5 for c in CATEGORIES}
        body = {"policy_version": 1, "choices": choices, "method": method, "language": "en",
                "page_url": f"{ORIGIN}/products/{self.random.randrange(1000)}?utm=soak",
                "banner_version": "soak", "client_record_id": secrets.token_hex(16)}
        if self.token:
            body["token"] = self.token
        return body

    def run(self) -> None:
        while not self.stop_choosing.is_set():
            body = self._choice()
            record_id = self._send_until_acknowledged(body)
            if record_id is None:
                return
            self._read_back(record_id)

    def _send_until_acknowledged(self, body: dict[str, Any]) -> str | None:
        tally, payload = self.tally, json.dumps(body).encode()
        with tally.lock:
            tally.attempted.add(body["client_record_id"])
        first = time.monotonic()
        pause = 0.05
        while time.monotonic() < self.give_up_at[0]:
            started = time.monotonic()
            try:
                status, answer = self._request(self.random.choice(self.ports), "POST", "/v1/sites/demo/consents",
                                               payload, {"Content-Type": "application/json", "Origin": ORIGIN})
                code = (answer.get("error") or {}).get("code", "")
            except (OSError, http.client.HTTPException):
                status, code = 0, "network error"
            with tally.lock:
                tally.answers[f"{status} {code}".strip() if status else code] += 1
                if status:
                    tally.request_ms.append((time.monotonic() - started) * 1000)
            if 200 <= status < 300:
                self.token, self.visitor_id = answer["token"], answer["visitor_id"]
                with tally.lock:
                    tally.acknowledged[body["client_record_id"]] = answer["record_id"]
                    tally.choice_ms.append((time.monotonic() - first) * 1000)
                return answer["record_id"]
            if 400 <= status < 500 and status != 429:
                with tally.lock:
                    tally.refused[f"{status} {code}"] += 1
                return ""  # final, as the banner treats it
            time.sleep(pause)  # the banner resends on its next page view; here after a short pause
            pause = min(pause * 2, 1.0)
        return None

    def _read_back(self, record_id: str) -> None:
        """Ask the backend API for this visitor's consent, on either instance: it must be this choice."""
        if not record_id or not self.visitor_id:
            return
        deadline = time.monotonic() + 20
        while time.monotonic() < min(deadline, self.give_up_at[0]):
            try:
                status, answer = self._request(self.random.choice(self.ports), "GET",
                                               f"/v1/sites/demo/visitors/{self.visitor_id}/consent",
                                               headers={"Authorization": f"Bearer {self.read_key}"})
            except (OSError, http.client.HTTPException):
                status, answer = 0, {}
            if status == 200:
                with self.tally.lock:
                    self.tally.reads += 1
                    if answer.get("record_id") != record_id:
                        self.tally.stale += 1
                        read = answer.get("record_id")
                        if len(self.tally.stale_examples) < 5:
                            self.tally.stale_examples.append(f"acknowledged {record_id}, read {read}")
                return
            time.sleep(0.1)
        with self.tally.lock:
            self.tally.unreadable += 1


# ------------------------------------------------------------------------------------- the chaos

class Chaos(threading.Thread):
    """Takes the dependencies down in turn, one event every `interval` seconds, until stopped."""

    def __init__(self, redis: RedisServer, postgres: Postgres, database_url: str, instances: list[Instance],
                 interval: float, stop: threading.Event, started: float) -> None:
        super().__init__(name="chaos", daemon=True)
        self.redis, self.postgres, self.database_url, self.instances = redis, postgres, database_url, instances
        self.interval, self.stop, self.started = interval, stop, started
        self.done: Counter[str] = Counter()
        self.events = [self.redis_killed, self.database_sessions_terminated, self.redis_stalled,
                       self.worker_killed, self.postgres_restarted]

    def run(self) -> None:
        index = 0
        while not self.stop.wait(self.interval):
            event = self.events[index % len(self.events)]
            index += 1
            print(f"  {time.monotonic() - self.started:6.1f} s  {event.__doc__}", flush=True)
            event()
            self.done[event.__doc__] += 1

    def redis_killed(self) -> None:
        """Redis killed (SIGKILL), restarted 2 s later, empty"""
        self.redis.kill()
        time.sleep(2)
        self.redis.start()

    def redis_stalled(self) -> None:
        """Redis stalled (SIGSTOP) for 1.5 s, then continued"""
        self.redis.pause()
        time.sleep(1.5)
        self.redis.resume()

    def database_sessions_terminated(self) -> None:
        """every database session of the service terminated"""
        import psycopg

        with contextlib.suppress(psycopg.Error), psycopg.connect(self.postgres.admin_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = 'soak' AND pid <> pg_backend_pid()")

    def worker_killed(self) -> None:
        """a gunicorn worker killed (SIGKILL) mid-request"""
        workers = [pid for instance in self.instances for pid in instance.workers()]
        if workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(random.choice(workers), signal.SIGKILL)

    def postgres_restarted(self) -> None:
        """PostgreSQL stopped (immediate: a crash) and started again 1 s later"""
        self.postgres.stop("immediate")
        time.sleep(1)
        self.postgres.start()


# ------------------------------------------------------------------------------------------- run

def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def prepare(env: dict[str, str]) -> str:
    """Migrate, sync the demo site and make a read key, through the CLI as the Procfile's release does."""
    cli = str(BIN / "consent-service")
    full_env = {**os.environ, **env}
    for command in (["db", "upgrade"], ["sites", "sync", str(ROOT / "sites" / "demo.toml")]):
        subprocess.run([cli, *command], env=full_env, cwd=ROOT, check=True, capture_output=True, timeout=120)
    made = subprocess.run([cli, "keys", "create", "--site", "demo", "--scope", "read", "--label", "soak"],
                          env=full_env, cwd=ROOT, check=True, capture_output=True, text=True, timeout=60)
    return made.stdout.strip().splitlines()[-1]


def stored_counts(database_url: str) -> Counter[str]:
    import psycopg

    with psycopg.connect(database_url) as connection:
        rows = connection.execute("SELECT client_record_id, count(*) FROM consent_records "
                                  "WHERE client_record_id IS NOT NULL GROUP BY client_record_id").fetchall()
    return Counter({row[0]: row[1] for row in rows})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300, help="how long the banners make choices")
    parser.add_argument("--banners", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="a short run (40 s) with each failure once")
    args = parser.parse_args()
    seconds = 40.0 if args.quick else args.seconds
    interval = 6.0 if args.quick else 12.0

    workdir = Path(tempfile.mkdtemp(prefix="consent-soak-"))
    os.chmod(workdir, 0o755)  # PostgreSQL runs as its own user and needs to reach its data folder
    postgres = redis = None
    instances: list[Instance] = []
    if shutil.which("redis-server") is None:
        raise SystemExit("soak: redis-server was not found (apt-get install redis-server)")
    try:
        postgres = Postgres(workdir)
        import psycopg

        with psycopg.connect(postgres.admin_url, autocommit=True) as admin:
            admin.execute("CREATE DATABASE soak")
        database_url = postgres.admin_url.rsplit("/", 1)[0] + "/soak"
        redis = RedisServer(workdir)
        env = {"CONSENT_ENV": "production", "DATABASE_URL": database_url, "REDIS_URL": redis.url,
               "SECRET_KEYS": secrets.token_urlsafe(32), "IP_PEPPER": secrets.token_urlsafe(32),
               # Production wants an https public address; only banner.js carries it, and the
               # simulated banners post to each instance directly.
               "PUBLIC_URL": "https://consent.soak.test",
               # Every banner comes from 127.0.0.1: one rate-limit bucket for all of them.
               "RATE_LIMIT_WRITES": "1000000/minute", "SEAL_BATCH_SIZE": "500"}
        read_key = prepare(env)
        instances = [Instance(env, workdir, f"instance-{n}") for n in (1, 2)]
        print(f"soak: {seconds:.0f} s of choices from {args.banners} banners against 2 instances x "
              f"{WORKERS_PER_INSTANCE} gunicorn workers, PostgreSQL and Redis on private loopback ports", flush=True)

        tally, stop_choosing, stop_chaos = Tally(), threading.Event(), threading.Event()
        started = time.monotonic()
        give_up_at = [started + seconds + 120]  # the drain after the load ends is bounded too
        banners = [Banner(n, [i.port for i in instances], read_key, tally, stop_choosing, give_up_at)
                   for n in range(args.banners)]
        chaos = Chaos(redis, postgres, database_url, instances, interval, stop_chaos, started)
        for banner in banners:
            banner.start()
        chaos.start()
        time.sleep(seconds)
        stop_chaos.set()
        chaos.join(timeout=120)
        stop_choosing.set()  # each banner finishes the choice it is sending, then stops
        for banner in banners:
            banner.join(timeout=max(1.0, give_up_at[0] - time.monotonic()))

        stored = stored_counts(database_url)
        cli_env = {**os.environ, **env}
        cli = str(BIN / "consent-service")
        seal = subprocess.run([cli, "proof", "seal", "--site", "demo", "--all-pending"], env=cli_env, cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        verify = subprocess.run([cli, "proof", "verify", "--site", "demo"], env=cli_env, cwd=ROOT,
                                capture_output=True, text=True, timeout=300)
    finally:
        for instance in instances:
            instance.stop()
        if redis is not None:
            redis.kill()
        if postgres is not None:
            postgres.destroy()
    logs = [instance.log.read_text(errors="replace") for instance in instances]

    attempted, acknowledged = tally.attempted, tally.acknowledged
    ours = {key: count for key, count in stored.items() if key in attempted}
    duplicated = sorted(key for key, count in ours.items() if count > 1)
    lost = sorted(key for key in acknowledged if key not in ours)
    refused = sum(tally.refused.values())
    unacknowledged = len(attempted) - len(acknowledged) - refused
    internal = sum(count for answer, count in tally.answers.items() if answer.startswith("500"))
    print("\nfailures caused:", ", ".join(f"{what} x{count}" for what, count in chaos.done.items()) or "none")
    print(f"choices: attempted {len(attempted)}, acknowledged {len(acknowledged)}, stored {len(ours)}, "
          f"duplicated {len(duplicated)}, lost {len(lost)}, refused (4xx) {refused}, "
          f"not acknowledged at the end {unacknowledged}")
    print("answers: " + ", ".join(f"{answer} x{count}" for answer, count in tally.answers.most_common()))
    if tally.refused:
        print("refused: " + ", ".join(f"{answer} x{count}" for answer, count in tally.refused.most_common()))
    print(f"latency per request: p50 {percentile(tally.request_ms, 0.5):.1f} ms, "
          f"p99 {percentile(tally.request_ms, 0.99):.1f} ms; per choice, first send to acknowledgement: "
          f"p50 {percentile(tally.choice_ms, 0.5):.1f} ms, p99 {percentile(tally.choice_ms, 0.99):.1f} ms, "
          f"max {max(tally.choice_ms, default=float('nan')):.0f} ms")
    print(f"reads after an acknowledged write: {tally.reads}, older than the write {tally.stale}, "
          f"unanswered after retries {tally.unreadable}")
    for example in tally.stale_examples:
        print(f"  stale: {example}")
    print(f"proof seal: {(seal.stdout or seal.stderr).strip()}")
    print(f"proof verify: {(verify.stdout or verify.stderr).strip()} (exit {verify.returncode})")
    print(f"service logs: {sum(text.count('Traceback') for text in logs)} tracebacks, "
          f"{sum(text.count(' unavailable (') for text in logs)} outage starts and "
          f"{sum(text.count(' answers again after') for text in logs)} ends logged")
    if tally.choice_ms:
        print(f"choices per second acknowledged: {len(acknowledged) / seconds:.1f} "
              f"(mean {statistics.mean(tally.choice_ms):.0f} ms each)")
    failed = [name for name, bad in (
        ("lost", lost), ("duplicated", duplicated), ("stale reads", tally.stale), ("500 answers", internal),
        ("not acknowledged at the end", unacknowledged), ("nothing acknowledged", not acknowledged),
        ("proof verify", verify.returncode != 0),
    ) if bad]
    logged = Counter()  # the log line above each traceback: who logged it, and why
    for text in logs:
        lines = text.splitlines()
        logged.update(lines[i - 1].split(" ", 2)[-1][:140] for i, line in enumerate(lines)
                      if line.startswith("Traceback") and i)
    for message, count in logged.most_common(5):
        print(f"  traceback after: {message} (x{count})")
    if failed:
        print(f"the service's logs are kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\nRESULT: " + ("PASS" if not failed else "FAIL: " + ", ".join(failed)), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
