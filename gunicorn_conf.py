"""gunicorn settings shared by the Procfile and `make run` (`gunicorn -c gunicorn_conf.py wsgi:app`).

Threaded workers keep a long export from holding a whole process. Logs hold no client address,
which the service never stores or logs in the clear (gunicorn's own "Invalid request from ip=..."
included), and one request is one line: control characters a request carries (a `%0A` in its path,
a NUL in a header) are escaped. A request whose body will be refused as too large (413, unread)
gets `Connection: close`, rather than a keep-alive promise followed by a closed connection."""

import os
import re

from gunicorn.glogging import Logger

from consent_service.config import MAX_BODY_BYTES

bind = f"{os.environ.get('BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '5000')}"  # noqa: S104
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = 4
timeout = 600
graceful_timeout = 10
accesslog = "-"
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'

_CONTROL = str.maketrans({c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]} | {ord("\\"): "\\\\"})
_CLIENT_ADDRESS = re.compile(r"^Invalid request from ip=.*?: ")


def _escaped(text: object) -> object:
    return text.translate(_CONTROL) if isinstance(text, str) else text


class AddresslessLogger(Logger):
    """gunicorn's logger without client addresses and with control characters escaped."""

    def atoms(self, resp, req, environ, request_time):  # noqa: ANN001, ANN201 (gunicorn's signature)
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["h"] = "-"
        for name in ("m", "U", "q", "r", "f", "a"):
            atoms[name] = _escaped(atoms.get(name))
        return atoms

    def _clean(self, msg: object, args: tuple) -> tuple[object, tuple]:
        if isinstance(msg, str):
            if args:
                msg, args = msg % args, ()
            msg = _escaped(_CLIENT_ADDRESS.sub("Invalid request: ", msg))
        return msg, args


def _cleaning(level: str):  # noqa: ANN202
    def log(self, msg, *args, **kwargs):  # noqa: ANN001, ANN202
        msg, args = self._clean(msg, args)
        getattr(Logger, level)(self, msg, *args, **kwargs)

    return log


for _level in ("critical", "error", "warning", "info", "debug", "exception"):
    setattr(AddresslessLogger, _level, _cleaning(_level))

logger_class = AddresslessLogger


def pre_request(worker, req):  # noqa: ANN001, ANN201 (a gunicorn server hook)
    """A body over the limit is refused unread, and a chunked one may be: close the connection
    after answering, and say so, instead of promising keep-alive and then closing it."""
    for name, value in req.headers:
        if name == "TRANSFER-ENCODING" or (name == "CONTENT-LENGTH" and value.isdigit()
                                           and int(value) > MAX_BODY_BYTES):
            req.must_close = True
            return
