"""The current consent per visitor, cached in Redis and written through on every new record, so
the backend query path costs one Redis GET at most. Absent visitors are cached briefly too.

The cache must never answer an older choice than one already acknowledged, whatever Redis does:

- Newer wins. Each entry starts with the record id it describes (record ids sort by time, and a
  visitor's current record is the one with the highest id). A write replaces an entry only with a
  newer record, in one Lua script, so two writers finishing out of order, or a reader filling the
  cache from an older database read, cannot put an older choice back. A reader fills a key only
  where no valid entry exists.
- Writes are always sent, even while reads back off after a failure (redis_store.py). When Redis
  stalls, the write waits in its socket and Redis runs it, in arrival order, when it resumes:
  before any read sent after the write was acknowledged.
- A write that fails is repaired. Its key is marked dirty in this process (which then reads that
  visitor from the database) and a repair thread sends the newer-wins write again until Redis
  takes it.
- Entries are stamped with the run_id of the Redis that stored them, and a reader uses an entry
  only if it comes from the server it is talking to: after a restart or a fail-over, nothing
  written before (perhaps older than a write the restart swallowed) is served; it is refilled from
  the database.
- Entries live `ttl_seconds` (15 minutes), a last bound should a process die with a repair pending
  while Redis was unreachable from it alone.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from ..ids import LENGTH as ID_LENGTH
from ..models import ConsentRecord
from ..redis_store import RUN_ID_LENGTH, RedisStore
from ..times import iso

log = logging.getLogger(__name__)
#: Stands for "no record" where an entry's record id goes: sorts before every record id.
NONE_ID = "-" * ID_LENGTH
NONE_TTL_SECONDS = 60
REPAIR_INTERVAL_SECONDS = 0.1
# An entry is its record id (or NONE_ID), the run_id of the Redis that stored it, and the summary JSON.

#: KEYS[1] the entry; ARGV[1] the new entry, ARGV[2] its TTL, ARGV[3] "write" (newer wins) or "fill"
#: (only where no valid entry is). An entry of another run_id is not valid.
SET_IF_NEWER = f"""
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, {ID_LENGTH + 1}, {ID_LENGTH + RUN_ID_LENGTH})
               == string.sub(ARGV[1], {ID_LENGTH + 1}, {ID_LENGTH + RUN_ID_LENGTH}) then
  if ARGV[3] == 'fill' or string.sub(current, 1, {ID_LENGTH}) > string.sub(ARGV[1], 1, {ID_LENGTH}) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


def summary_of(record: Mapping[str, Any] | ConsentRecord) -> dict[str, Any]:
    """What the cache keeps of a record (a stored row, or the values it was inserted from): the
    non-personal fields that answer 'what did this visitor allow?'."""
    get = record.get if isinstance(record, Mapping) else lambda name: getattr(record, name)
    return {
        "record_id": get("id"), "policy_version": get("policy_version"), "choices": dict(get("choices")),
        "method": get("method"), "recorded_at": iso(get("created_at")), "expires_at": iso(get("expires_at")),
        "regime": get("regime"), "regime_version": get("regime_version"),
    }


_DELETE = object()  # a pending repair that deletes the entry


class ConsentCache:
    """Read-through and write-through cache of each visitor's newest record summary."""

    def __init__(self, store: RedisStore, ttl_seconds: int = 900) -> None:
        self.store = store
        self.ttl_seconds = ttl_seconds
        self._set_if_newer = store.script(SET_IF_NEWER)
        #: Keys whose last write did not reach Redis, with what to write: read from the database
        #: here until the repair thread has written them.
        self._dirty: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._repairer_pid: int | None = None
        self._wake = threading.Event()

    def _key(self, site_id: str, visitor_id: str) -> str:
        return self.store.key("current", site_id, visitor_id)

    # -- reads ------------------------------------------------------------------------------------
    def get(self, site_id: str, visitor_id: str) -> tuple[bool, dict[str, Any] | None]:
        """(hit, summary): summary None with hit True means 'known to have no record'."""
        key = self._key(site_id, visitor_id)
        if self._dirty and key in self._dirty:
            return False, None
        result = self.store.read("GET", key)
        if result is None or result[1] is None:
            return False, None
        run_id, raw = result
        entry = raw.decode() if isinstance(raw, bytes) else raw
        if entry[ID_LENGTH:ID_LENGTH + RUN_ID_LENGTH] != run_id:
            return False, None  # written before this Redis restarted: it may miss a newer write
        if entry.startswith(NONE_ID):
            return True, None
        try:
            return True, json.loads(entry[ID_LENGTH + RUN_ID_LENGTH:])
        except ValueError:
            return False, None

    def fill(self, site_id: str, visitor_id: str, summary: dict[str, Any] | None) -> None:
        """Cache what a database read found, unless a valid entry is there already (it can only be
        the same or newer: every write goes through put())."""
        key = self._key(site_id, visitor_id)
        if self.store.enabled and not (self._dirty and key in self._dirty):
            self._send(key, summary, "fill")

    # -- writes -----------------------------------------------------------------------------------
    def put(self, site_id: str, visitor_id: str, summary: dict[str, Any], new_visitor: bool = False) -> None:
        """Write through a newly stored record; repaired in the background if Redis misses it. A
        visitor id minted by this very write can have no older entry, so it needs no repair."""
        if self.store.enabled:
            key = self._key(site_id, visitor_id)
            if self._send(key, summary, "write"):
                if self._dirty:
                    with self._lock:  # an older write still waiting for repair is superseded
                        self._dirty.pop(key, None)
            elif not new_visitor:
                self._mark_dirty(key, summary)

    def forget(self, site_id: str, visitor_id: str) -> None:
        """Drop a visitor's entry (after erasure or purge); the next read fills it from the database."""
        if self.store.enabled:
            key = self._key(site_id, visitor_id)
            if self.store.write("DEL", key) is None:
                self._mark_dirty(key, _DELETE)

    def _send(self, key: str, summary: dict[str, Any] | None, mode: str) -> bool:
        """The newer-wins script, the entry stamped with the run_id of the server that runs it;
        True once Redis took it. Fills follow the read back-off; writes are always sent."""
        if summary is None:
            head, body, ttl = NONE_ID, "", NONE_TTL_SECONDS
        else:
            head, body, ttl = summary["record_id"], json.dumps(summary, separators=(",", ":")), self.ttl_seconds
        # The script answers 0 when a newer entry is there already: taken all the same.
        return self._set_if_newer(lambda run_id: (1, key, head + run_id + body, ttl, mode), mode == "write") is not None

    # -- repairs ----------------------------------------------------------------------------------
    def _mark_dirty(self, key: str, pending: Any) -> None:
        with self._lock:
            self._dirty[key] = pending
        self._ensure_repairer()
        self._wake.set()

    def pending_repairs(self) -> int:
        return len(self._dirty)

    def repair(self) -> None:
        """Send every pending write once more; forget those Redis took. A round ends at the first
        write Redis does not take: each would wait out the same timeout."""
        for key, pending in list(self._dirty.items()):
            done = (self.store.write("DEL", key) is not None if pending is _DELETE
                    else self._send(key, pending, "write"))
            if not done:
                return
            with self._lock:
                if self._dirty.get(key) is pending:
                    del self._dirty[key]

    def _ensure_repairer(self) -> None:
        if self._repairer_pid == os.getpid():
            return
        with self._lock:
            if self._repairer_pid == os.getpid():
                return
            self._repairer_pid = os.getpid()
        threading.Thread(target=self._repair_loop, name="consent-cache-repair", daemon=True).start()

    def _repair_loop(self) -> None:
        """Retry every REPAIR_INTERVAL_SECONDS (sooner when a key is marked) while keys are dirty.
        The event is cleared on every wake-up: left set, the waits return at once and the thread
        spins, holding the interpreter, for as long as Redis stays away."""
        while True:
            self._wake.wait()
            self._wake.clear()
            while self._dirty:
                try:
                    self.repair()
                except Exception:  # never let the thread die: the next round tries again
                    log.exception("consent cache repair failed")
                self._wake.wait(REPAIR_INTERVAL_SECONDS)
                self._wake.clear()
