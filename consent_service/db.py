"""Database connections beyond the session: SQLite's settings for the embedded default, what a
lost database looks like, and a connection that reads one snapshot (exports and verification must
not see half a write)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import psycopg
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from .outage import OutageLog

T = TypeVar("T")

#: What a database that went away (stopped, restarted, sessions terminated, pool exhausted) raises:
#: retryable, not the caller's fault, answered as 503 database_unavailable.
DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, sa_exc.PendingRollbackError,
    psycopg.OperationalError, psycopg.InterfaceError,
)


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL so readers never wait for the writer; foreign keys on; wait for a lock rather than fail;
    deleted content overwritten with zeros (an erased visitor key must not linger in free pages)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def configure_engine(engine: sa.Engine, outage: OutageLog | None = None) -> None:
    """Per-dialect settings, applied once to a new engine; a statement that runs ends an outage."""
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", sqlite_pragmas)
    if outage is not None:
        sa.event.listen(engine, "after_cursor_execute", lambda *_: outage.answered())


def snapshot_connection(source: Any) -> sa.Connection:
    """A connection of its own that sees one snapshot for all its reads (REPEATABLE READ on
    PostgreSQL; SQLite readers see one snapshot per transaction anyway)."""
    engine = source if isinstance(source, sa.Engine) else source.get_bind()
    connection = engine.connect()
    if connection.dialect.name == "postgresql":
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
    return connection


class LastKnownCache(Generic[T]):
    """Values read from the database, by key, kept in this process for `ttl_seconds`. While the
    database is unavailable the last value read stands in, however old: an outage is no reason to
    forget what a site looks like (a value never read still raises)."""

    def __init__(self, ttl_seconds: float = 5.0, limit: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.limit = limit
        self._entries: dict[str, tuple[float, T]] = {}
        self._lock = threading.Lock()

    def lifetime(self, value: T) -> float:
        """How long a value read now may be served; a subclass may shorten it per value."""
        return self.ttl_seconds

    def cached(self, key: str) -> T | None:
        """The value held for `key` while it has not expired, else None."""
        entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] > time.monotonic() else None

    def read(self, session: Any, key: str, load: Callable[[Any], T], fresh: bool = False) -> T:
        """The held value unless it expired (or `fresh`), else load(session) and hold that."""
        entry = self._entries.get(key)
        now = time.monotonic()
        if entry is not None and entry[0] > now and not fresh:
            return entry[1]
        try:
            value = load(session)
        except DATABASE_UNAVAILABLE:
            if entry is None:
                raise
            session.rollback()  # the session stays usable for the rest of the request
            return entry[1]
        with self._lock:
            if len(self._entries) >= self.limit:
                self._entries.clear()
            self._entries[key] = (now + self.lifetime(value), value)
        return value

    def forget(self, key: str | None = None) -> None:
        with self._lock:
            if key is None:
                self._entries.clear()
            else:
                self._entries.pop(key, None)

    def clear(self) -> None:
        self.forget()
