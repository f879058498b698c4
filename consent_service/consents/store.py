"""Writing a consent record and its visitor key in as few database round trips as each database
allows, because recording a choice is the service's busiest write.

On PostgreSQL a new visitor's key and its first record go in one statement (data-modifying CTEs)
run outside an explicit transaction on a connection kept for it: one round trip that commits
atomically, instead of a pool checkout, BEGIN, two INSERTs and COMMIT. psycopg prepares the
statements after a few runs, so PostgreSQL neither parses nor plans them again. Elsewhere (the
embedded SQLite) the same rows are written in one transaction on the session. Either way a
repeated `client_record_id` inserts nothing and says so.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
import weakref
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.orm import Session, scoped_session

from ..config import POOL_RECYCLE_SECONDS
from ..extensions import db
from ..models import ConsentRecord, UTCDateTime, VisitorKey
from .fields import WRITTEN_FIELDS

RECORDS = ConsentRecord.__table__
KEYS = VisitorKey.__table__


@functools.cache
def _statements(dialect: str) -> dict[str, Any]:
    """Statements built once per dialect, so a request only binds values."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # The sequence and the storage time are the database's to assign (fields.py).
    record_values = {name: sa.bindparam(name) for name in WRITTEN_FIELDS}
    plain = insert(RECORDS).values(record_values)
    idempotent = plain.on_conflict_do_nothing(index_elements=["site_id", "client_record_id"])
    statements: dict[str, Any] = {
        "select_key": sa.select(KEYS.c.key).where(KEYS.c.visitor_id == sa.bindparam("visitor_id")),
        "insert_key": insert(KEYS).values(
            visitor_id=sa.bindparam("visitor_id"), site_id=sa.bindparam("site_id"),
            key=sa.bindparam("visitor_key"), created_at=sa.bindparam("created_at"),
        ).on_conflict_do_nothing(),
        "insert_record": plain.returning(RECORDS.c.id),
        "insert_record_idempotent": idempotent.returning(RECORDS.c.id),
    }
    if dialect == "postgresql":
        # The record goes first and the key is written from what it returned, so a replay (the
        # record's insert does nothing) writes no key either. Nothing here reads the records
        # table, so no plan (not even a generic one made while the table was small) can scan it.
        for name, record_insert in (("insert_key_and_record", plain),
                                    ("insert_key_and_record_idempotent", idempotent)):
            new_record = record_insert.returning(RECORDS.c.id, RECORDS.c.visitor_id).cte("new_record")
            key_values = sa.select(
                new_record.c.visitor_id, sa.bindparam("site_id", type_=sa.String),
                sa.bindparam("visitor_key", type_=sa.LargeBinary), sa.bindparam("created_at", type_=UTCDateTime()),
            )
            new_key = insert(KEYS).from_select(["visitor_id", "site_id", "key", "created_at"], key_values) \
                .on_conflict_do_nothing().cte("new_key")
            statements[name] = sa.select(new_record.c.id).add_cte(new_key)
        # Compiled to SQL text once: executing the text skips SQLAlchemy's per-call cache-key and
        # bind processing, which cost more CPU than the database spends on the insert.
        dialect_impl = psycopg_dialect.dialect()
        for name in [name for name in statements if name.startswith(("insert_", "select_"))]:
            statements[name + "_sql"] = str(statements[name].compile(dialect=dialect_impl))
    return statements


def _engine(session: Session | scoped_session[Session]) -> sa.Engine:
    """The engine a session writes to. For the app's scoped session (db.session) that has not made
    a session in this request yet, the app's engine, without making one: a new visitor's write
    needs no session at all, and making one only to ask for its engine (and closing it at teardown)
    cost more CPU than the database spent on the insert."""
    if session is db.session and not db.session.registry.has():
        return db.engine
    return session.get_bind()  # type: ignore[return-value]


class _WriterConnections:
    """One autocommit psycopg connection per thread and engine, kept open for the hot write.

    Checking a connection out of SQLAlchemy's pool, switching it to autocommit and resetting it on
    return cost more CPU (and a longer wait) than the single statement it runs. A connection comes
    from the engine (same URL and connect arguments) and is detached from its pool; all of an
    engine's writers are closed when the engine is disposed, and after a fork, a failure or
    POOL_RECYCLE_SECONDS (as pooled connections) the next call connects afresh."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        #: Every open writer per engine, with the process that opened it, for close_all().
        self._open: weakref.WeakKeyDictionary[sa.Engine, list[tuple[int, Any]]] = weakref.WeakKeyDictionary()
        #: Writers a forked child got from its parent: the parent still talks on those sockets, and
        #: closing one (or letting it be collected) would end the parent's session.
        self._inherited: list[Any] = []

    def _held(self) -> weakref.WeakKeyDictionary[sa.Engine, tuple[int, Any, float]]:
        if not hasattr(self._local, "writers"):
            self._local.writers = weakref.WeakKeyDictionary()
        return self._local.writers

    def get(self, engine: sa.Engine) -> Any:
        held = self._held().get(engine)
        if held is not None:
            pid, connection, opened = held
            if pid == os.getpid() and not connection.closed and time.monotonic() - opened < POOL_RECYCLE_SECONDS:
                return connection
            self._release(engine, pid, connection)
        pooled = engine.raw_connection()
        connection = pooled.driver_connection
        pooled.detach()
        connection.autocommit = True
        self._held()[engine] = (os.getpid(), connection, time.monotonic())
        with self._lock:
            if not sa.event.contains(engine, "engine_disposed", self.close_all):
                sa.event.listen(engine, "engine_disposed", self.close_all)
            self._open.setdefault(engine, []).append((os.getpid(), connection))
        return connection

    def discard(self, engine: sa.Engine, connection: Any) -> None:
        """Close this thread's writer after a failure; the next get() connects afresh."""
        self._release(engine, os.getpid(), connection)

    def close_all(self, engine: sa.Engine) -> None:
        with self._lock:
            writers = self._open.pop(engine, [])
        for pid, connection in writers:
            self._close_if_ours(pid, connection)

    def _release(self, engine: sa.Engine, pid: int, connection: Any) -> None:
        with self._lock:
            writers = self._open.get(engine, [])
            writers[:] = [writer for writer in writers if writer[1] is not connection]
        self._held().pop(engine, None)
        self._close_if_ours(pid, connection)

    def _close_if_ours(self, pid: int, connection: Any) -> None:
        if pid == os.getpid():
            connection.close()
        else:
            self._inherited.append(connection)


class RecordStore:
    """Writes a record (and a new visitor's key) in one statement where the database allows, and
    reads a visitor's key. One per app: it keeps a writer connection per thread."""

    def __init__(self) -> None:
        self.writers = _WriterConnections()

    def _run_autocommit(self, engine: sa.Engine, sql: str, params: dict[str, Any], idempotent: bool = False) -> Any:
        """One precompiled statement on this thread's writer connection; its first row's first value.

        A connection that failed is closed, so the next request connects afresh. A statement that
        may safely run twice (a read, or an insert keyed by its client_record_id) is run again at
        once on a fresh connection: after a restart or terminated sessions the kept connection is
        dead, and the caller need not see a 503 for it."""
        for attempt in (1, 2):
            connection = self.writers.get(engine)
            try:
                row = connection.execute(sql, params).fetchone()
            except psycopg.OperationalError:
                self.writers.discard(engine, connection)
                if attempt == 2 or not idempotent:
                    raise
                continue
            return row[0] if row else None
        return None  # unreachable: the loop returns or raises

    def visitor_key(self, session: Session, visitor_id: str) -> bytes | None:
        """The visitor's key as stored (wrapped: see visitor_keys.py), or None if it never had one
        or it was erased."""
        engine = _engine(session)
        statements = _statements(engine.dialect.name)
        if "select_key_sql" in statements:
            return self._run_autocommit(engine, statements["select_key_sql"], {"visitor_id": visitor_id},
                                        idempotent=True)
        return session.execute(statements["select_key"], {"visitor_id": visitor_id}).scalar()

    def insert(self, session: Session, record: dict[str, Any], new_key: bytes | None) -> bool:
        """Store the record (and the visitor's new key, wrapped, if given); False if its
        client_record_id exists."""
        engine = _engine(session)
        dialect = engine.dialect.name
        statements = _statements(dialect)
        suffix = "_idempotent" if record.get("client_record_id") else ""
        params = dict(record)
        if new_key is not None:
            params.update(visitor_key=new_key)
        if dialect == "postgresql":
            name = ("insert_key_and_record" if new_key is not None else "insert_record") + suffix
            params["choices"] = json.dumps(params["choices"])  # the driver-level value of a JSON column
            return self._run_autocommit(engine, statements[name + "_sql"], params, idempotent=bool(suffix)) is not None
        connection = session.connection()
        if new_key is not None:
            connection.execute(statements["insert_key"], params)
        if connection.execute(statements["insert_record" + suffix], params).scalar() is None:
            session.rollback()
            return False
        session.commit()
        return True


class DiscardingStore(RecordStore):
    """Stores nothing and says every record was new: only for the benchmark that measures the
    write path without its database write (refused in production, see config.py)."""

    def visitor_key(self, session: Session, visitor_id: str) -> bytes | None:
        return None

    def insert(self, session: Session, record: dict[str, Any], new_key: bytes | None) -> bool:
        return True
