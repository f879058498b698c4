"""A WSGI app served on a free loopback port from a thread: for the tests, the benchmarks and the
scanner's own fixtures. Not for production (gunicorn is)."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import make_server


class ServerThread:
    """A threaded werkzeug server on a free local port, in a daemon thread; stop() ends it."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        self.server = make_server(host, 0, app, threaded=True)
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
