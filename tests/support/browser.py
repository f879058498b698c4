"""Shared by the browser suites (tests/browser, tests/e2e): launching Debian's headless Chromium
through Playwright, and serving a WSGI app on a free local port in a thread.

The root conftest imports its fixtures (`browser`, `context`, `page`), so every suite can use them.
Playwright's sync API allows one running instance per thread, so every conftest that imports the
fixture shares one Chromium for the whole run (started by the first user, closed after the last).
Chromium missing: the test is skipped locally and fails under CI=true.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from consent_service.devserver import ServerThread, late_server  # noqa: F401  (re-exported for the suites)
from tests.support import require_service

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_executable() -> str:
    executable = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
    if not (os.path.isfile(executable) or shutil.which(executable)):
        require_service("Chromium", f"not found at {executable}")
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
            require_service("Playwright", f"not installed: {error}")
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


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser context (cookies, storage) per test."""
    ctx = browser.new_context(locale="en-US")
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    p = context.new_page()
    p.set_default_timeout(5000)
    return p
