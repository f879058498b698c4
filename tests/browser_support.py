"""Shared by the browser suites (tests/browser, tests/e2e): launching Debian's headless Chromium
through Playwright, and serving a WSGI app on a free local port in a thread.

Import the fixture into a conftest to use it: `from browser_support import browser  # noqa: F401`.
Playwright's sync API allows one running instance per thread, so every conftest that imports the
fixture shares one Chromium for the whole run (started by the first user, closed after the last).
Chromium missing: the test is skipped locally and fails under CI=true.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

CI = os.environ.get("CI") == "true"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def unavailable(message: str) -> None:
    """Skip locally, fail in CI: CI must exercise every real part."""
    if CI:
        pytest.fail(message + " (CI=true: a failure, not a skip)")
    pytest.skip(message)


def chromium_executable() -> str:
    executable = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
    if not (os.path.isfile(executable) or shutil.which(executable)):
        unavailable(f"Chromium not found at {executable}")
    return executable


_shared: dict[str, Any] = {"users": 0, "playwright": None, "browser": None}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the test run, shared by every conftest that imports this fixture."""
    if _shared["users"] == 0:
        executable = chromium_executable()
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as error:
            unavailable(f"playwright is not installed: {error}")
        playwright = sync_playwright().start()
        try:
            _shared["browser"] = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS,
                                                            headless=True)
        except Exception:
            playwright.stop()
            raise
        _shared["playwright"] = playwright
    _shared["users"] += 1
    try:
        yield _shared["browser"]
    finally:
        _shared["users"] -= 1
        if _shared["users"] == 0:
            _shared["browser"].close()
            _shared["playwright"].stop()
            _shared["browser"] = _shared["playwright"] = None


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
