"""Small pieces bench.banner_size needs: threaded local servers and a headless Chromium."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from typing import Any

from werkzeug.wrappers import Request, Response

from bench.support import ServerThread

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class PageServer(ServerThread):
    """Serves in-memory files (path -> (bytes, content type)) on http://localhost:<port>, so pages
    are on another origin than a service on 127.0.0.1."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        super().__init__(self._app)

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        found = self.files.get(Request(environ).path)
        if found is None:
            return Response("not found", status=404)(environ, start_response)
        body, content_type = found
        return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})(
            environ, start_response)

    def url(self, path: str) -> str:
        return f"http://localhost:{self.port}{path}"


@contextlib.contextmanager
def launch_chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
