"""The service as production serves it: gunicorn with gunicorn_conf.py (started here, stopped by
its process id), spoken to over raw sockets. Bodies over the limit are 413 with an honest
`Connection: close`, chunked ones too; logs hold no client address and one request is one line.
And the werkzeug server of the tests and benchmarks logs no address either."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from consent_service.devserver import ServerThread, stop_group
from tests.support import DEMO_ORIGIN, ROOT, TEST_ENV, free_port, sync_demo


@pytest.fixture
def served(make_app, migrated_url, tmp_path):
    """gunicorn on a free port with the Procfile's configuration; yields (port, access log, error log)."""
    sync_demo(make_app())
    port = free_port()
    access, errors = tmp_path / "access.log", tmp_path / "error.log"
    command = [str(Path(sys.executable).parent / "gunicorn"), "-c", str(ROOT / "gunicorn_conf.py"),
               "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "2", "wsgi:app"]
    from gunicorn.config import KNOWN_SETTINGS

    if any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS):
        command[-1:-1] = ["--no-control-socket"]
    env = {**os.environ, **TEST_ENV, "DATABASE_URL": migrated_url}
    with open(access, "wb") as out, open(errors, "wb") as err:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while b"200" not in exchange(port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", allow_refused=True)[:20]:
            assert process.poll() is None and time.monotonic() < deadline, errors.read_text()
            time.sleep(0.1)
        yield port, access, errors
    finally:
        stop_group(process, seconds=15)


def exchange(port: int, request: bytes, allow_refused: bool = False) -> bytes:
    """Send raw bytes and read until the server closes or 2 s pass; the bytes answered."""
    try:
        connection = socket.create_connection(("127.0.0.1", port), timeout=2)
    except ConnectionRefusedError:
        if allow_refused:
            return b""
        raise
    with connection:
        try:
            connection.sendall(request)
        except OSError:
            pass  # the server may answer and close before taking a whole oversized body
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return answer


def head(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    top, _, body = answer.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def consent_request(body: bytes, chunked: bool = False, length: int | None = None) -> bytes:
    start = (b"POST /v1/sites/demo/consents HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
             b"Origin: " + DEMO_ORIGIN.encode() + b"\r\n")
    if chunked:
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 4096]), body[i:i + 4096])
                          for i in range(0, len(body), 4096))
        return start + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    return start + b"Content-Length: %d\r\n\r\n" % (length or len(body)) + body


VALID = json.dumps({"policy_version": 1, "method": "reject_all", "choices": {
    "necessary": True, "preferences": False, "analytics": False, "marketing": False}}).encode()


def test_bodies_over_the_limit_are_413_and_close_the_connection(served):
    port, _, _ = served
    declared = head(exchange(port, consent_request(b"{" + b" " * 20_000 + b"}")))
    chunked = head(exchange(port, consent_request(b'{"x": "' + b"a" * 20_000 + b'"}', chunked=True)))
    for status, headers, body in (declared, chunked):
        assert status == 413 and headers["connection"] == "close"
        assert json.loads(body)["error"]["code"] == "payload_too_large"
    small = head(exchange(port, consent_request(VALID, chunked=True)))
    assert small[0] == 201 and small[1]["connection"] == "close"
    then = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    kept = head(exchange(port, consent_request(VALID) + then))  # a body within the limit keeps the connection
    assert kept[0] == 201 and kept[1]["connection"] == "keep-alive" and b"HTTP/1.1 200" in kept[2]


def test_logs_hold_no_address_and_one_line_per_request(served):
    port, access, errors = served
    assert head(exchange(port, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Bad: a\x00b\r\n\r\n"))[0] == 400
    forged = b"GET /v1/sites/demo/x%0A127.0.0.1%20FORGED%0D HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    assert head(exchange(port, forged))[0] == 404
    time.sleep(0.5)
    error_lines = errors.read_text().splitlines()
    invalid = [line for line in error_lines if "Invalid request" in line]
    assert len(invalid) == 1 and "127.0.0.1" not in invalid[0] and "ip=" not in invalid[0], error_lines
    access_lines = access.read_text().splitlines()
    assert not [line for line in access_lines if "127.0.0.1" in line and "FORGED" not in line]
    forged_lines = [line for line in access_lines if "FORGED" in line]
    assert len(forged_lines) == 1 and "\\x0a" in forged_lines[0] and "\\x0d" in forged_lines[0]
    assert all(line.startswith("[") for line in access_lines), access_lines  # each a whole entry


def test_the_test_server_logs_no_address(caplog):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = ServerThread(app)
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            exchange(server.port, b"GET /a%0Ab HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            exchange(server.port, b"GET /\x00 HTTP/1.1\r\n\r\n")
            time.sleep(0.2)
    finally:
        server.stop()
    lines = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    assert len(lines) >= 2 and not [line for line in lines if "127.0.0.1" in line or "\n" in line], lines
