"""Documents of the consent service a shop keeps current: the site's configuration (its cookie
declarations) and its JWKS (the public keys tokens are checked with).

Each is fetched with `If-None-Match`, kept in memory and, when asked, in a cache file (so a restart
while the service is down still has it); when a fetch fails, the last good copy stands. One daemon
thread per process (started on the guard's first request, again after a fork) refreshes them.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Generic, TypeVar

log = logging.getLogger("consent_service.shop.guard")
T = TypeVar("T")


def site_url(service_url: str, site_id: str, path: str) -> str:
    return f"{service_url.rstrip('/')}/v1/sites/{site_id}/{path}"


class CacheFile:
    """The last good copies of several documents in one JSON file, `{name: {"etag", "body"}}`,
    replaced atomically on every write."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
            return saved if isinstance(saved, dict) else {}
        except (OSError, ValueError) as error:
            log.warning("consent guard: ignoring unreadable cache file %s (%s)", self.path, error)
            return {}

    def load(self, name: str) -> tuple[str | None, Any] | None:
        entry = self._read().get(name)
        if not isinstance(entry, dict) or "body" not in entry:
            return None
        return entry.get("etag"), entry["body"]

    def save(self, name: str, etag: str | None, body: Any) -> None:
        with self._lock:
            saved = self._read()
            saved[name] = {"etag": etag, "body": body}
            try:
                temporary = self.path.with_suffix(self.path.suffix + ".tmp")
                temporary.write_text(json.dumps(saved), encoding="utf-8")
                os.replace(temporary, self.path)
            except OSError as error:
                log.warning("consent guard: cannot write cache file %s (%s)", self.path, error)


class RemoteDocument(Generic[T]):
    """One JSON document of the service, parsed by `parse` (which raises on anything unusable), with
    the last good copy kept. `value` is None until a copy is known."""

    def __init__(self, url: str, parse: Callable[[Any], T], *, name: str, timeout: float = 2.0,
                 cache: CacheFile | None = None, http: Any = None) -> None:
        self.url = url
        self.name = name
        self.timeout = timeout
        self.cache = cache
        self.value: T | None = None
        self.etag: str | None = None
        self.fetched_at: float | None = None
        self.last_error: str | None = None
        self._parse = parse
        self._http = http
        self._lock = threading.Lock()
        saved = cache.load(name) if cache is not None else None
        if saved is not None:
            try:
                self.value = parse(saved[1])
                self.etag = saved[0]
            except Exception as error:  # a copy from another version or site: not usable
                log.warning("consent guard: ignoring the cached %s in %s (%s)", name, cache.path, error)

    def _pool(self) -> Any:
        if self._http is None:
            import urllib3

            self._http = urllib3.PoolManager(maxsize=1, retries=False,
                                             timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout))
        return self._http

    def refresh(self) -> bool:
        """Fetch once; True when the copy is current (200 or 304). Never raises."""
        headers = {"Accept": "application/json"}
        if self.etag and self.value is not None:
            headers["If-None-Match"] = self.etag
        try:
            response = self._pool().request("GET", self.url, headers=headers, redirect=False)
            if response.status == 304 and self.value is not None:
                self.fetched_at = time.time()
                self.last_error = None
                return True
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            body = json.loads(response.data)
            value = self._parse(body)
        except Exception as error:  # network, HTTP, JSON or shape: keep the last good copy
            message = f"{type(error).__name__}: {error}"
            if message != self.last_error:
                log.warning("consent guard: cannot refresh the %s from %s (%s); %s", self.name, self.url, message,
                            "keeping the last good copy" if self.value is not None else "none known yet")
            self.last_error = message
            return False
        with self._lock:
            self.value = value
            self.etag = response.headers.get("ETag")
            self.fetched_at = time.time()
            self.last_error = None
        if self.cache is not None:
            self.cache.save(self.name, self.etag, body)
        return True


class Refresher:
    """A daemon thread refreshing documents every `refresh_seconds` (every 5 s at most while one has
    no copy yet). `wake()` asks for an early refresh, at most once per `min_wake_seconds`."""

    def __init__(self, documents: Iterable[RemoteDocument[Any]], refresh_seconds: float = 60.0,
                 min_wake_seconds: float = 10.0) -> None:
        self.documents = list(documents)
        self.refresh_seconds = refresh_seconds
        self.min_wake_seconds = min_wake_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._woken_at = 0.0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def refresh(self) -> bool:
        return all([document.refresh() for document in self.documents])

    def start(self) -> None:
        """Start the thread in this process (idempotent; call again after a fork)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="consent-guard-refresh", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        now = time.monotonic()
        if now - self._woken_at >= self.min_wake_seconds:
            self._woken_at = now
            self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            timeout = max((document.timeout for document in self.documents), default=1.0)
            thread.join(timeout=timeout * 2 * max(1, len(self.documents)) + 1)

    def _run(self) -> None:
        while True:
            complete = all(document.value is not None for document in self.documents)
            self._wake.wait(self.refresh_seconds if complete else min(5.0, self.refresh_seconds))
            self._wake.clear()
            if self._stop.is_set():
                return
            self.refresh()
