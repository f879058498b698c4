"""Real commands run as a newcomer runs them (`make run`, the launcher, the walk-through), each in a
process group of its own so the test can stop all it started by one process id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tests.support import ROOT, free_port

#: What would make a command use something else than its defaults on a newcomer's machine.
CONFIG_VARIABLES = ("SECRET_KEYS", "SECRET_KEYS_FILE", "IP_PEPPER", "IP_PEPPER_FILE", "DATABASE_URL", "REDIS_URL",
                    "PUBLIC_URL", "CONSENT_ENV", "PORT", "DEMO_PORT", "CONSENT_INSTANCE_PATH")


def newcomer_env(instance: Path, **extra: str) -> dict[str, str]:
    """This environment without the service's configuration, with a private instance folder (so the
    developer's instance/ is never touched) and the running interpreter's venv first on PATH."""
    env = {name: value for name, value in os.environ.items() if name not in CONFIG_VARIABLES}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, "CONSENT_INSTANCE_PATH": str(instance), **extra}


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (a local test URL)
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def make(target: str, port: int, shop_port: int, instance: Path, log: Path) -> "ProcessGroup":
    """`make <target> PORT=… DEMO_PORT=…` in the checkout, as a newcomer types it, with the venv that
    runs these tests (the one `make test` made) and a private instance folder. The shop's third
    party gets a free port too (its default, 8001, may be taken on a shared machine)."""
    command = ["make", "--no-print-directory", target, f"PORT={port}", f"DEMO_PORT={shop_port}",
               f"DEMO_PARTNER_PORT={free_port()}", f"VENV={Path(sys.prefix)}"]
    return ProcessGroup(command, log, newcomer_env(instance))


class ProcessGroup:
    """A command in its own session, its output in a file; stop() ends the whole group."""

    def __init__(self, command: Sequence[str], log: Path, env: Mapping[str, str], cwd: Path = ROOT) -> None:
        self.log = log
        self._out = log.open("wb")
        self.process = subprocess.Popen(list(command), cwd=cwd, env=dict(env), stdout=self._out,  # noqa: S603
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, url: str, seconds: float = 60.0) -> None:
        """Until `url` answers; fails with the command's output if it exits or takes too long."""
        deadline = time.monotonic() + seconds
        while not answers(url):
            if self.process.poll() is not None:
                raise AssertionError(f"exited with {self.process.returncode} before {url} answered:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer within {seconds:.0f} s:\n{self.output()}")
            time.sleep(0.2)

    def wait_for_output(self, text: str, seconds: float = 15.0) -> None:
        if not poll(lambda: text in self.output(), seconds):
            raise AssertionError(f"no {text!r} within {seconds:.0f} s:\n{self.output()}")

    def stop(self, seconds: float = 20.0) -> None:
        """SIGTERM to the whole group, SIGKILL to whatever is left after `seconds`."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            pass
        if not poll(lambda: not _group_alive(self.process.pid), seconds):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._out.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def poll(condition: Callable[[], bool], seconds: float) -> bool:
    """Whether `condition()` holds within `seconds`, asked every 0.2 s."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def process_alive(pid: int) -> bool:
    """True while `pid` is a running process (a reaped or zombie one counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
