"""A small in-process copy of hot Redis keys, kept coherent by Redis pub/sub.

Every process subscribes to one invalidation channel; whoever writes a key publishes its name in
the same round trip as the write, and every process drops its copy. A copy is only kept if no
invalidation arrived while it was being read (so a read racing a write cannot pin an old value),
and never longer than `ttl_seconds`. While the subscription is down — Redis stopped, or the
listener not yet connected — the near cache holds nothing and every read goes to Redis (or, if
that fails too, the database).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from typing import Any

import redis

log = logging.getLogger(__name__)


class NearCache:
    def __init__(self, client: redis.Redis, channel: str, max_entries: int = 50_000,
                 ttl_seconds: float = 30.0) -> None:
        self.client = client
        self.channel = channel
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0  # bumped by every invalidation and by every loss of the subscription
        self._listening = False
        self._listener_pid: int | None = None

    # -- reads and writes -------------------------------------------------------------------------
    def get(self, key: str) -> tuple[bool, Any]:
        self._ensure_listener()
        entry = self._entries.get(key)
        if entry is None or not self._listening:
            return False, None
        if entry[0] < time.monotonic():
            self._entries.pop(key, None)
            return False, None
        return True, entry[1]

    def generation(self) -> int:
        return self._generation

    def keep(self, key: str, value: Any, generation: int) -> None:
        """Remember a value read from Redis, unless anything was invalidated since the read began."""
        with self._lock:
            if not self._listening or generation != self._generation:
                return
            self._entries[key] = (time.monotonic() + self.ttl_seconds, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget_locally(self, key: str) -> None:
        with self._lock:
            self._generation += 1
            self._entries.pop(key, None)

    # -- the listener -----------------------------------------------------------------------------
    def _ensure_listener(self) -> None:
        """Start the subscription thread once per process (gunicorn forks after import)."""
        if self._listener_pid == os.getpid():
            return
        with self._lock:
            if self._listener_pid == os.getpid():
                return
            self._listener_pid = os.getpid()
            self._listening = False
            self._entries.clear()
        threading.Thread(target=self._listen, name="consent-near-cache", daemon=True).start()

    def _drop_all(self) -> None:
        with self._lock:
            self._listening = False
            self._generation += 1
            self._entries.clear()

    def _listen(self) -> None:
        backoff = 0.5
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=False)
            try:
                pubsub.subscribe(self.channel)
                for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        with self._lock:
                            self._generation += 1
                            self._listening = True
                        backoff = 0.5
                    elif message["type"] == "message":
                        key = message["data"].decode() if isinstance(message["data"], bytes) else message["data"]
                        self.forget_locally(key)
            except (redis.RedisError, OSError, ValueError) as error:
                log.warning("near cache: subscription lost (%s); reading through to Redis", type(error).__name__)
            finally:
                self._drop_all()
                try:
                    pubsub.close()
                except (redis.RedisError, OSError):
                    pass
            time.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
