"""The current consent per visitor, cached in Redis and written through on every new record, so
the backend query path costs one Redis GET at most — none when this process holds a copy (see
near_cache.py: copies are dropped everywhere, through pub/sub, when anyone writes the key).
Absent visitors are cached briefly too."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ..models import ConsentRecord
from ..near_cache import NearCache
from ..redis_store import RedisStore
from ..times import iso

NONE_MARKER = b"-"
NONE_TTL_SECONDS = 60


def summary_of(record: Mapping[str, Any] | ConsentRecord) -> dict[str, Any]:
    """What the cache keeps of a record (a stored row, or the values it was inserted from): the
    non-personal fields that answer 'what did this visitor allow?'."""
    get = record.get if isinstance(record, Mapping) else lambda name: getattr(record, name)
    return {
        "record_id": get("id"), "policy_version": get("policy_version"), "choices": dict(get("choices")),
        "method": get("method"), "recorded_at": iso(get("created_at")), "expires_at": iso(get("expires_at")),
    }


class ConsentCache:
    """Read-through and write-through cache of each visitor's newest record summary."""

    def __init__(self, store: RedisStore, ttl_seconds: int = 86_400) -> None:
        self.store = store
        self.ttl_seconds = ttl_seconds
        self.channel = store.key("invalidate")
        self.near = NearCache(store.client, self.channel) if store.client is not None else None

    def _key(self, site_id: str, visitor_id: str) -> str:
        return self.store.key("current", site_id, visitor_id)

    def get(self, site_id: str, visitor_id: str) -> tuple[bool, dict[str, Any] | None]:
        """(hit, summary): summary None with hit True means 'known to have no record'."""
        key = self._key(site_id, visitor_id)
        generation = 0
        if self.near is not None:
            hit, value = self.near.get(key)
            if hit:
                return value
            generation = self.near.generation()
        raw = self.store.call(lambda r: r.get(key), None)
        if raw is None:
            return False, None
        try:
            value = (True, None) if raw == NONE_MARKER else (True, json.loads(raw))
        except ValueError:
            return False, None
        if self.near is not None:
            self.near.keep(key, value, generation)
        return value

    def _write(self, key: str, command: Callable[[Any], Any], announce: bool = True) -> None:
        """Write (or delete) the key and tell every process to drop its copy, in one round trip."""
        if self.near is not None:
            self.near.forget_locally(key)

        def write(client: Any) -> None:
            if not (announce and self.near is not None):
                command(client)  # nothing to announce: one command, no pipeline to build
                return
            pipeline = client.pipeline(transaction=False)
            command(pipeline)
            pipeline.publish(self.channel, key)
            pipeline.execute()

        self.store.call(write, None)

    def put(self, site_id: str, visitor_id: str, summary: dict[str, Any] | None, new_visitor: bool = False) -> None:
        """Write through. A visitor id minted by this very write cannot be cached anywhere yet, so
        its first record is not announced to the other processes."""
        key = self._key(site_id, visitor_id)
        if summary is None:
            self._write(key, lambda p: p.set(key, NONE_MARKER, ex=NONE_TTL_SECONDS))
        else:
            value = json.dumps(summary, separators=(",", ":"))
            self._write(key, lambda p: p.set(key, value, ex=self.ttl_seconds), announce=not new_visitor)

    def forget(self, site_id: str, visitor_id: str) -> None:
        key = self._key(site_id, visitor_id)
        self._write(key, lambda p: p.delete(key))
