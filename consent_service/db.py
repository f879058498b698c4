"""Database connections beyond the session: SQLite's settings for the embedded default, and a
connection that reads one snapshot (exports and verification must not see half a write)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


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


def configure_engine(engine: sa.Engine) -> None:
    """Per-dialect settings, applied once to a new engine."""
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", sqlite_pragmas)


def snapshot_connection(source: Any) -> sa.Connection:
    """A connection of its own that sees one snapshot for all its reads (REPEATABLE READ on
    PostgreSQL; SQLite readers see one snapshot per transaction anyway)."""
    engine = source if isinstance(source, sa.Engine) else source.get_bind()
    connection = engine.connect()
    if connection.dialect.name == "postgresql":
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
    return connection
