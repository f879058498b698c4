"""One log line per outage, not one per request: a dependency (the database, Redis) is reported
when it stops answering and again when it answers, with how many requests met it in between."""

from __future__ import annotations

import logging
import threading
import time


class OutageLog:
    """Tracks whether a dependency is answering and logs only the transitions."""

    def __init__(self, what: str, logger: logging.Logger) -> None:
        self.what = what
        self.log = logger
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._failures = 0

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def failed(self, error: BaseException, consequence: str) -> None:
        """A call failed: log the first failure of an outage (its kind, never its text, which may
        hold addresses or credentials), count the rest."""
        with self._lock:
            self._failures += 1
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
        self.log.warning("%s unavailable (%s): %s", self.what, type(error).__name__, consequence)

    def answered(self) -> None:
        """A call succeeded: log the end of an outage, if there was one."""
        if self._down_since is None:  # the hot path: no lock while all is well
            return
        with self._lock:
            if self._down_since is None:
                return
            lasted, failures = time.monotonic() - self._down_since, self._failures
            self._down_since, self._failures = None, 0
        self.log.warning("%s answers again after %.1f s (%d failed calls)", self.what, lasted, failures)
