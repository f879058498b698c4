"""Retention: a record is kept until it expires or the visitor withdraws, plus the site's legal
buffer (`retention_buffer_days`, default three years). Purging removes whole sealed periods only,
oldest first, so the seal chain stays verifiable: the seal of a purged period stays in the chain
with `purged_at` set, and its manifest still says which records it held.

Unsealed records are never purged; neither is a period holding one record still inside its
retention. Visitor keys left with no record are deleted too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from ..consents.cache import ConsentCache
from ..models import ConsentRecord, Seal, VisitorKey
from ..sites.state import SiteState
from ..times import iso
from .access_log import log_access

DEFAULT_BUFFER_DAYS = 1095


@dataclass
class PurgeResult:
    site_id: str
    cutoff: datetime
    seals: list[int]
    records: int
    visitor_keys: int
    through_record_id: str | None
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site_id, "cutoff": iso(self.cutoff, precise=True),
                "seals": self.seals, "records": self.records, "visitor_keys": self.visitor_keys,
                "through_record_id": self.through_record_id, "dry_run": self.dry_run}


def retention_cutoff(site: SiteState, now: datetime | None = None) -> datetime:
    """Records whose retention ended before this instant may go."""
    days = int(site.settings.get("retention_buffer_days", DEFAULT_BUFFER_DAYS))
    return (now or datetime.now(UTC)) - timedelta(days=days)


def _still_kept(session: Session, seal: Seal, cutoff: datetime) -> bool:
    """Does any record of this sealed period still need keeping?

    A record ends at its expiry, or earlier when the same visitor later withdrew."""
    record = ConsentRecord
    withdrawal = aliased(ConsentRecord)
    withdrawn = sa.exists().where(
        withdrawal.site_id == record.site_id, withdrawal.visitor_id == record.visitor_id,
        withdrawal.method == "withdraw", withdrawal.id > record.id, withdrawal.created_at < cutoff)
    return session.execute(
        sa.select(record.id).where(
            record.site_id == seal.site_id, record.id >= seal.first_record_id,
            record.id <= seal.last_record_id, record.expires_at >= cutoff, ~withdrawn,
        ).limit(1)).scalar() is not None


def purge(session: Session, site: SiteState, *, actor: str, now: datetime | None = None,
          dry_run: bool = False, cache: ConsentCache | None = None) -> PurgeResult:
    """Remove the oldest sealed periods whose every record is past retention, in one transaction
    with its access-log entry."""
    now = now or datetime.now(UTC)
    cutoff = retention_cutoff(site, now)
    live = session.execute(sa.select(Seal).where(Seal.site_id == site.id, Seal.purged_at.is_(None))
                           .order_by(Seal.id)).scalars()
    chosen: list[Seal] = []
    for seal in live:
        if _still_kept(session, seal, cutoff):
            break
        chosen.append(seal)
    result = PurgeResult(site_id=site.id, cutoff=cutoff, seals=[s.id for s in chosen], records=0,
                         visitor_keys=0, through_record_id=chosen[-1].last_record_id if chosen else None,
                         dry_run=dry_run)
    if not chosen:
        session.rollback()
        return result
    through = chosen[-1].last_record_id
    in_window = (ConsentRecord.site_id == site.id, ConsentRecord.id <= through)
    visitors = set(session.execute(sa.select(ConsentRecord.visitor_id).where(*in_window)
                                   .distinct()).scalars())
    if dry_run:
        result.records = session.execute(sa.select(sa.func.count()).where(*in_window)
                                         .select_from(ConsentRecord)).scalar_one()
        session.rollback()
        return result
    result.records = session.execute(sa.delete(ConsentRecord).where(*in_window)).rowcount or 0
    for seal in chosen:
        seal.purged_at = now
    orphans = [visitor for visitor in visitors if session.execute(
        sa.select(ConsentRecord.id).where(ConsentRecord.site_id == site.id,
                                          ConsentRecord.visitor_id == visitor).limit(1)).scalar() is None]
    for start in range(0, len(orphans), 500):
        result.visitor_keys += session.execute(sa.delete(VisitorKey).where(
            VisitorKey.site_id == site.id, VisitorKey.visitor_id.in_(orphans[start:start + 500]))).rowcount or 0
    log_access(session, site_id=site.id, actor=actor, action="purge", rows=result.records,
               details={"seals": result.seals, "through_record_id": through,
                        "cutoff": result.to_dict()["cutoff"], "visitor_keys": result.visitor_keys,
                        "buffer_days": int(site.settings.get("retention_buffer_days", DEFAULT_BUFFER_DAYS))},
               commit=False)
    session.commit()
    if cache is not None:
        for visitor in orphans:
            cache.forget(site.id, visitor)
    return result
