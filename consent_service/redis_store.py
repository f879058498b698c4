"""The optional Redis connection. A cache is never a reason for an error: every caller treats a
Redis failure as a miss, and after one the connection is left alone for a moment rather than
paying a timeout on every request."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)
T = TypeVar("T")


class RedisStore:
    """A Redis client with a short back-off after failures; `client` is None when not configured."""

    def __init__(self, url: str | None = None, prefix: str = "cs:", backoff_seconds: float = 2.0) -> None:
        self.prefix = prefix
        self.backoff_seconds = backoff_seconds
        self._down_until = 0.0
        self.client: redis.Redis | None = None
        if url:
            # No client-side retries: a failure falls back to the database at once (see call()).
            self.client = redis.Redis.from_url(
                url, socket_timeout=0.25, socket_connect_timeout=0.25, retry=Retry(NoBackoff(), 0),
            )

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def call(self, operation: Callable[[redis.Redis], T], default: T) -> T:
        """Run operation against Redis, or return default if Redis is absent or failing."""
        if self.client is None or time.monotonic() < self._down_until:
            return default
        try:
            return operation(self.client)
        except redis.RedisError as error:
            self._down_until = time.monotonic() + self.backoff_seconds
            log.warning("redis unavailable, falling back to the database: %s", type(error).__name__)
            return default

    def ping(self) -> bool:
        if self.client is None:
            return False
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def key(self, *parts: Any) -> str:
        return self.prefix + ":".join(str(part) for part in parts)
