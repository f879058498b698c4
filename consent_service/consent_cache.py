"""The current consent per visitor, cached in Redis and written through on every new record, so
the backend query path costs one Redis GET. Absent visitors are cached briefly too."""

from __future__ import annotations

import json
from typing import Any

from .redis_store import RedisStore

NONE_MARKER = b"-"
NONE_TTL_SECONDS = 60


class ConsentCache:
    def __init__(self, store: RedisStore, ttl_seconds: int = 86_400) -> None:
        self.store = store
        self.ttl_seconds = ttl_seconds

    def _key(self, site_id: str, visitor_id: str) -> str:
        return self.store.key("current", site_id, visitor_id)

    def get(self, site_id: str, visitor_id: str) -> tuple[bool, dict[str, Any] | None]:
        """(hit, summary): summary None with hit True means 'known to have no record'."""
        raw = self.store.call(lambda r: r.get(self._key(site_id, visitor_id)), None)
        if raw is None:
            return False, None
        if raw == NONE_MARKER:
            return True, None
        try:
            return True, json.loads(raw)
        except ValueError:
            return False, None

    def put(self, site_id: str, visitor_id: str, summary: dict[str, Any] | None) -> None:
        key = self._key(site_id, visitor_id)
        if summary is None:
            self.store.call(lambda r: r.set(key, NONE_MARKER, ex=NONE_TTL_SECONDS), None)
        else:
            value = json.dumps(summary, separators=(",", ":"))
            self.store.call(lambda r: r.set(key, value, ex=self.ttl_seconds), None)

    def forget(self, site_id: str, visitor_id: str) -> None:
        self.store.call(lambda r: r.delete(self._key(site_id, visitor_id)), None)
