"""Servers for the tests, the benchmarks and the scanner's own fixtures, on free loopback ports: a
WSGI app served from a thread, and a private redis-server to stall, kill and restart. Not for
production (gunicorn and your own Redis are)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server


def stop_group(process: subprocess.Popen, seconds: float = 10.0) -> None:
    """SIGTERM to the process group this child leads (started with start_new_session=True), SIGKILL to
    what is left after `seconds`: a server a test or benchmark started never outlives it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class AddresslessRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, logging without the client's address (werkzeug starts every line with
    it, bad requests included) and with control characters escaped: one request, one line."""

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 (werkzeug's name)
        text = (message % args) if args else message
        logging.getLogger("werkzeug").log(
            logging.getLevelName(type.upper()) if type.upper() in ("INFO", "WARNING", "ERROR") else logging.INFO,
            "[%s] %s", self.log_date_time_string(), text.rstrip("\n").translate(self._control_char_table))


class ServerThread:
    """A threaded werkzeug server on a free local port, in a daemon thread; stop() ends it."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        self.server = make_server(host, 0, app, threaded=True, request_handler=AddresslessRequestHandler)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class LateApp:
    """A WSGI app given after its server took a port: the service's PUBLIC_URL, or a site's origin,
    names the port before the app that needs it exists."""

    app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


def late_server(host: str = "127.0.0.1") -> tuple[ServerThread, LateApp]:
    """A server on a free port whose app is set later (`late.app = ...`)."""
    late = LateApp()
    return ServerThread(late, host=host), late


#: A browser page's init script that takes Ed25519 out of WebCrypto, as in Chromium before 137 and
#: other older engines: the banner must then ask the service (tests and bench.banner_verify).
NO_ED25519_SCRIPT = """(() => {
  const importKey = SubtleCrypto.prototype.importKey;
  SubtleCrypto.prototype.importKey = function (format, data, algorithm, ...rest) {
    const name = typeof algorithm === 'string' ? algorithm : algorithm && algorithm.name;
    if (String(name).toLowerCase() === 'ed25519') return Promise.reject(new DOMException('no', 'NotSupportedError'));
    return importKey.call(this, format, data, algorithm, ...rest);
  };
})();"""


class RedisServer:
    """A redis-server of our own on a free loopback port, stopped by its process id. `persistent`
    keeps an RDB file in `directory` (written by save()), so a restart brings back what was saved,
    as a production Redis would; otherwise a restart comes back empty."""

    def __init__(self, directory: Path, persistent: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not installed")
        self.binary, self.directory, self.persistent = binary, directory, persistent
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _client(self) -> Any:
        import redis

        return redis.Redis(port=self.port, socket_timeout=5)

    def start(self) -> None:
        import redis

        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--appendonly", "no",
                   "--dir", str(self.directory), "--dbfilename", "dump.rdb"]
        if not self.persistent:
            command += ["--save", ""]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603 (our own command)
        for _ in range(400):
            try:
                self._client().ping()
                return
            except redis.RedisError:
                time.sleep(0.025)
        raise RuntimeError("redis-server did not start")

    def save(self) -> None:
        self._client().save()

    def pause(self) -> None:
        """SIGSTOP: connections are accepted by the kernel, commands wait in their sockets."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=10)
