"""The access log: every export, verification, key change, purge and erasure, written in the same
transaction as the work it describes where there is one. Nothing in the API updates or deletes it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from .models import AccessLogEntry


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


ACCESS_LOG_COLUMNS = ("id", "created_at", "site_id", "actor", "action", "rows", "details")


def iter_access_log(connection: Connection, site_id: str, since: datetime | None = None,
                    until: datetime | None = None, action: str | None = None) -> Iterator[dict[str, Any]]:
    """A site's access log in order, streamed."""
    table = AccessLogEntry.__table__
    query = sa.select(table).where(table.c.site_id == site_id).order_by(table.c.id)
    if since is not None:
        query = query.where(table.c.created_at >= since)
    if until is not None:
        query = query.where(table.c.created_at < until)
    if action is not None:
        query = query.where(table.c.action == action)
    for row in connection.execute(query, execution_options={"yield_per": 1000}):
        yield {name: getattr(row, name) for name in ACCESS_LOG_COLUMNS}
