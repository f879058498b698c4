"""The site's declarations fetched from the consent service's config endpoint, kept current by a
background thread, with the last good copy kept (in memory, and in a file when asked)."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from .cookie_rules import CookieRules

log = logging.getLogger("consent_service.shop.guard")


class ServiceDeclarations:
    """The site's declarations from the service's config endpoint.

    Fetched with `If-None-Match`, kept in memory (and in `cache_file` when given, so a restart while
    the service is down still has them), refreshed every `refresh_seconds` by a daemon thread that
    each process starts on its first request. When a fetch fails the last good copy stands.
    """

    def __init__(self, service_url: str, site_id: str, *, refresh_seconds: float = 60.0,
                 timeout: float = 2.0, cache_file: str | Path | None = None,
                 http: Any = None) -> None:
        self.url = f"{service_url.rstrip('/')}/v1/sites/{site_id}/config"
        self.refresh_seconds = refresh_seconds
        self.timeout = timeout
        self.cache_file = Path(cache_file) if cache_file else None
        self.rules: CookieRules | None = None
        self.etag: str | None = None
        self.fetched_at: float | None = None
        self.last_error: str | None = None
        self._http = http
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._load_cache_file()

    def _pool(self) -> Any:
        if self._http is None:
            import urllib3

            self._http = urllib3.PoolManager(maxsize=1, retries=False,
                                             timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout))
        return self._http

    def refresh(self) -> bool:
        """Fetch once; True when the rules are current (200 or 304). Never raises."""
        headers = {"Accept": "application/json"}
        if self.etag and self.rules is not None:
            headers["If-None-Match"] = self.etag
        try:
            response = self._pool().request("GET", self.url, headers=headers, redirect=False)
            if response.status == 304 and self.rules is not None:
                self.fetched_at = time.time()
                self.last_error = None
                return True
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            config = json.loads(response.data)
            rules = CookieRules.from_config(config)
        except Exception as error:  # network, HTTP, JSON or shape: keep the last good copy
            message = f"{type(error).__name__}: {error}"
            if message != self.last_error:
                log.warning("consent guard: cannot refresh declarations from %s (%s); %s", self.url, message,
                            "keeping the last good copy" if self.rules else "only necessary cookies pass")
            self.last_error = message
            return False
        with self._lock:
            self.rules = rules
            self.etag = response.headers.get("ETag")
            self.fetched_at = time.time()
            self.last_error = None
        self._save_cache_file(config)
        return True

    def _load_cache_file(self) -> None:
        if self.cache_file is None or not self.cache_file.exists():
            return
        try:
            saved = json.loads(self.cache_file.read_text(encoding="utf-8"))
            self.rules = CookieRules.from_config(saved["config"])
            self.etag = saved.get("etag")
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("consent guard: ignoring unreadable cache file %s (%s)", self.cache_file, error)

    def _save_cache_file(self, config: Any) -> None:
        if self.cache_file is None:
            return
        try:
            temporary = self.cache_file.with_suffix(self.cache_file.suffix + ".tmp")
            temporary.write_text(json.dumps({"etag": self.etag, "config": config}), encoding="utf-8")
            os.replace(temporary, self.cache_file)
        except OSError as error:
            log.warning("consent guard: cannot write cache file %s (%s)", self.cache_file, error)

    def start(self) -> None:
        """Start the refresh thread in this process (idempotent; call again after a fork)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="consent-guard-refresh", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.timeout * 2 + 1)

    def _run(self) -> None:
        while True:
            # Without any copy, retry soon; with one, at the refresh interval.
            wait = self.refresh_seconds if self.rules is not None else min(5.0, self.refresh_seconds)
            if self._stop.wait(wait):
                return
            self.refresh()
