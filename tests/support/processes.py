"""Servers a test owns and misbehaves with: a Redis it can stall (SIGSTOP), continue, kill and
restart on the same port and data directory. Always stopped by process id."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.support import free_port, require_service


class RedisServer:
    """A private redis-server on a free loopback port. `persistent` keeps an RDB file in `directory`
    (saved by save()), so a restart brings back what was saved, as a production Redis would."""

    def __init__(self, directory: Path, persistent: bool = False) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            require_service("redis-server", "binary not found")
        self.directory = directory
        self.persistent = persistent
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--appendonly", "no",
                   "--dir", str(self.directory), "--dbfilename", "dump.rdb"]
        if not self.persistent:
            command += ["--save", ""]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                client.ping()
                return
            except redis.RedisError:
                time.sleep(0.025)
        raise RuntimeError("redis-server did not start")

    def save(self) -> None:
        import redis

        redis.Redis(port=self.port).save()

    def pause(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=5)

    def restart(self) -> None:
        self.kill()
        self.start()
