"""The access log: every export, verification, key change, purge, erasure and visitor history
read, written in the same transaction as the work it describes where there is one. Each audited
operation writes its own entry (the API and the CLI only call the operation); nothing in the API
updates or deletes an entry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from ..models import AccessLogEntry
from ..times import iso
from .tabular import TabularWriter

#: The columns of an access-log download, with how each is written.
COLUMNS = (("id", "int"), ("created_at", "time"), ("site_id", "text"), ("actor", "text"), ("action", "text"),
           ("rows", "int"), ("details", "json"))
ROWS_PER_CHUNK = 1000


def log_access(session: Session, *, site_id: str, actor: str, action: str,
               details: dict[str, Any] | None = None, rows: int | None = None,
               commit: bool = True) -> AccessLogEntry:
    entry = AccessLogEntry(site_id=site_id, actor=actor, action=action, details=details or {}, rows=rows)
    session.add(entry)
    if commit:
        session.commit()
    return entry


def actor_for_key(key_id: str) -> str:
    """The access-log actor for an API key: its id, never its secret."""
    return f"key:{key_id}"


def log_access_apart(bind: Engine | Connection, **entry: Any) -> None:
    """Write an entry in a transaction of its own: for work that streams from another transaction
    (an export is logged when it ends, with the rows it actually returned)."""
    with Session(bind=bind) as session:
        log_access(session, commit=True, **entry)


def iter_access_log(connection: Connection, site_id: str, since: datetime | None = None,
                    until: datetime | None = None, action: str | None = None) -> Iterator[AccessLogEntry]:
    """A site's access log in order, streamed."""
    table = AccessLogEntry.__table__
    query = sa.select(table).where(table.c.site_id == site_id).order_by(table.c.id)
    if since is not None:
        query = query.where(table.c.created_at >= since)
    if until is not None:
        query = query.where(table.c.created_at < until)
    if action is not None:
        query = query.where(table.c.action == action)
    yield from connection.execute(query, execution_options={"yield_per": ROWS_PER_CHUNK})


def export_access_log(engine: Engine, site_id: str, fmt: str, *, actor: str, since: datetime | None = None,
                      until: datetime | None = None, action: str | None = None) -> Iterator[bytes]:
    """The access log as NDJSON or CSV, oldest entry first; the download is itself logged when it
    ends, with the entries actually sent (a chunk counts once the server asks for the next)."""
    writer = TabularWriter(fmt, COLUMNS)
    count = sent = 0
    try:
        with engine.connect() as connection:
            lines = [writer.header()]
            for entry in iter_access_log(connection, site_id, since, until, action):
                count += 1
                lines.append(writer.row((entry.id, iso(entry.created_at, precise=True), entry.site_id, entry.actor,
                                         entry.action, entry.rows, json.dumps(entry.details, sort_keys=True,
                                                                              separators=(",", ":")))))
                if count % ROWS_PER_CHUNK == 0:
                    yield "".join(lines).encode()
                    sent = count
                    lines.clear()
            yield "".join(lines).encode()
            sent = count
    finally:
        log_access_apart(engine, site_id=site_id, actor=actor, action="access_log.export", rows=sent,
                         details={"filters": {"since": iso(since, precise=True), "until": iso(until, precise=True),
                                              "action": action}, "format": fmt})
