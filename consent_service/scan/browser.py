"""Starting Debian's headless Chromium through Playwright, set up the way a scanner needs it.

- The flags keep a browser on a closed network quiet (no background requests to Google, no QUIC).
- Third-party cookies are allowed. Chromium's default profile blocks them, and so would hide every
  cookie a third-party iframe or pixel sets; most visitors' Chrome allows them. The browser is
  therefore started on a throwaway profile whose preferences allow them (`cookie_controls_mode` 0),
  and each visit opens a fresh incognito-like context of that browser, which inherits the setting.
  `third_party_cookies=False` scans as a blocking browser sees the shop.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from consent_service.scan.errors import ScanError

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    """`CHROMIUM` from the environment, else Debian's /usr/bin/chromium (a name is looked up on PATH)."""
    return os.environ.get("CHROMIUM") or "/usr/bin/chromium"


def _executable(path: str) -> str:
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    found = shutil.which(path)
    if found:
        return found
    raise ScanError(f"no browser: Chromium not found at {path} (install Debian's chromium package, or set "
                    f"CHROMIUM to its path)")


@contextlib.contextmanager
def chromium(*, third_party_cookies: bool = True, executable: str | None = None) -> Iterator[Any]:
    """A running headless Chromium (a Playwright `Browser`), stopped on exit; ScanError when it cannot
    start. Uses Playwright's sync API, so the calling thread must not already run another instance."""
    path = _executable(executable or chromium_path())
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        raise ScanError(f"no browser: Playwright for Python is not installed ({error})") from None
    with tempfile.TemporaryDirectory(prefix="consent-scan-") as profile:
        preferences = Path(profile) / "Default" / "Preferences"
        preferences.parent.mkdir()
        preferences.write_text(json.dumps({"profile": {"cookie_controls_mode": 0 if third_party_cookies else 1}}))
        try:
            playwright = sync_playwright().start()
        except PlaywrightError as error:
            raise ScanError(f"no browser: Playwright could not start here ({error.message.splitlines()[0]}); "
                            f"run the scan in a thread without another Playwright instance") from None
        try:
            try:
                persistent = playwright.chromium.launch_persistent_context(
                    profile, executable_path=path, args=CHROMIUM_ARGS, headless=True)
            except PlaywrightError as error:
                raise ScanError(f"no browser: Chromium at {path} did not start: "
                                f"{error.message.splitlines()[0]}") from None
            try:
                browser = persistent.browser
                if browser is None:  # pragma: no cover (Playwright has always given one for Chromium)
                    raise ScanError("no browser: Playwright gave no browser for the persistent profile")
                yield browser
            finally:
                with contextlib.suppress(PlaywrightError):
                    persistent.close()
        finally:
            playwright.stop()
