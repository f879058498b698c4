"""A WSGI app served on a free loopback port from a thread: for the tests, the benchmarks and the
scanner's own fixtures. Not for production (gunicorn is)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server


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
