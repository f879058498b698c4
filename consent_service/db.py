"""Database connections beyond the session: SQLite's settings for the embedded default, what a
lost database looks like, and a connection that reads one snapshot (exports and verification must
not see half a write)."""

from __future__ import annotations

from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from .outage import OutageLog

#: What a database that went away (stopped, restarted, sessions terminated, pool exhausted) raises:
#: retryable, not the caller's fault, answered as 503 database_unavailable.
DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, sa_exc.PendingRollbackError,
    psycopg.OperationalError, psycopg.InterfaceError,
)


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL so readers never wait for the writer; foreign keys on; wait for a lock rather than fail."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
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
