"""The access log: every export, verification, key change, purge and erasure, written in the same
transaction as the work it describes where there is one. Nothing in the API updates or deletes it."""

from __future__ import annotations

from typing import Any

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
