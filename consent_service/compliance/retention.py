"""Retention: a record is kept until it expires or the visitor withdraws, plus the site's legal
buffer (`retention_buffer_days`, default three years). Purging removes whole sealed periods only,
oldest first, so the seal chain stays verifiable: the seal of a purged period stays in the chain
with `purged_at` set, its manifest still says which records it held, and a *purge marker* —
a statement signed with the seal key (seal_keys.py) naming the seal's digest, when, the cutoff,
the buffer and when the latest retention in the period ended — proves that the service purged it
and that it was due. Someone with the database but not the key cannot "purge" a period (mark it
and delete its records): verification finds no valid marker.

Unsealed records are never purged; neither is a period holding one record still inside its
retention. Visitor keys left with no record are destroyed too (consents/visitor_keys.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from ..canonical import canonical_json
from ..consents.cache import ConsentCache
from ..consents.visitor_keys import destroy_keys
from ..models import ConsentRecord, Seal
from ..sites.state import SiteState
from ..times import iso, parse_iso
from .access_log import log_access
from .seal_keys import SealSigner, SealVerifier

DEFAULT_BUFFER_DAYS = 1095
PURGE_TYPE = "consent-service purge v1"


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


def retention_ended(session: Session, seal: Seal, cutoff: datetime) -> datetime | None:
    """When the last record of this sealed period stopped needing to be kept (None if it has none).

    A record ends at its expiry, or earlier when the same visitor later withdrew (a withdrawal
    made before the cutoff)."""
    record = ConsentRecord
    withdrawal = aliased(ConsentRecord)
    withdrawn_at = sa.select(sa.func.min(withdrawal.created_at)).where(
        withdrawal.site_id == record.site_id, withdrawal.visitor_id == record.visitor_id,
        withdrawal.method == "withdraw", withdrawal.seq > record.seq,
        withdrawal.created_at < cutoff).scalar_subquery()
    ends = session.execute(sa.select(record.expires_at, withdrawn_at).where(
        record.site_id == seal.site_id, record.seq >= seal.first_seq, record.seq <= seal.last_seq)).all()
    return max((min(expires, withdrawn) if withdrawn else expires for expires, withdrawn in ends), default=None)


def purge_statement(seal: Seal, purged_at: datetime, cutoff: datetime, buffer_days: int,
                    ended: datetime | None) -> dict[str, Any]:
    return {"type": PURGE_TYPE, "site": seal.site_id, "seal_digest": seal.digest,
            "purged_at": iso(purged_at, precise=True), "cutoff": iso(cutoff, precise=True),
            "buffer_days": buffer_days, "retention_ended": iso(ended, precise=True)}


def sign_purge(signer: SealSigner, statement: dict[str, Any]) -> str:
    key_id, signature = signer.sign(canonical_json(statement))
    return json.dumps({"statement": statement, "key_id": key_id, "signature": signature}, sort_keys=True)


def check_purge_marker(seal: Any, verifier: SealVerifier) -> tuple[str, str] | None:
    """None when the seal's purge is signed by a seal key and was due; else (kind, why)."""
    try:
        marker = json.loads(seal.purge_marker or "")
        statement, key_id, signature = marker["statement"], marker["key_id"], marker["signature"]
        signed = verifier.verify(key_id, canonical_json(statement), signature)
    except (ValueError, TypeError, KeyError):
        signed = False
    if not signed or seal.purged_at is None:
        return "purge_forged", ("it is marked purged without a purge marker signed by a seal key: someone "
                                "removed its records and marked it, and the service did not")
    named = (statement.get("type"), statement.get("site"), statement.get("seal_digest"), statement.get("purged_at"))
    if named != (PURGE_TYPE, seal.site_id, seal.digest, iso(seal.purged_at, precise=True)):
        return "purge_forged", "its signed purge marker belongs to another seal or another time"
    try:
        purged_at, cutoff = parse_iso(statement["purged_at"]), parse_iso(statement["cutoff"])
        ended = parse_iso(statement["retention_ended"]) if statement["retention_ended"] else None
        buffer_days = int(statement["buffer_days"])
    except (KeyError, TypeError, ValueError):
        return "purge_forged", "its purge marker does not say when retention ended"
    if cutoff > purged_at - timedelta(days=buffer_days) or buffer_days < 0:
        return "purge_premature", "its purge marker's cutoff is later than the purge time less the buffer"
    if ended is None or ended > cutoff:
        return "purge_premature", (f"it was purged on {iso(purged_at)} but its retention ran until "
                                   f"{iso(ended)} plus {buffer_days} days")
    if seal.expires_through is not None and ended > seal.expires_through:
        return "purge_premature", "its purge marker names a retention end after every expiry the seal signed"
    return None


def purge(session: Session, site: SiteState, signer: SealSigner, *, actor: str, now: datetime | None = None,
          dry_run: bool = False, cache: ConsentCache | None = None) -> PurgeResult:
    """Remove the oldest sealed periods whose every record is past retention, each with a signed
    purge marker, in one transaction with its access-log entry; then destroy the keys of visitors
    left without a record."""
    now = now or datetime.now(UTC)
    cutoff = retention_cutoff(site, now)
    buffer_days = int(site.settings.get("retention_buffer_days", DEFAULT_BUFFER_DAYS))
    live = session.execute(sa.select(Seal).where(Seal.site_id == site.id, Seal.purged_at.is_(None))
                           .order_by(Seal.id)).scalars().all()
    chosen: list[tuple[Seal, datetime | None]] = []
    for seal in live:
        ended = retention_ended(session, seal, cutoff)
        if seal.signature is None or ended is None or ended >= cutoff:
            break
        chosen.append((seal, ended))
    result = PurgeResult(site_id=site.id, cutoff=cutoff, seals=[s.id for s, _ in chosen], records=0,
                         visitor_keys=0, through_record_id=chosen[-1][0].last_record_id if chosen else None,
                         dry_run=dry_run)
    if not chosen:
        session.rollback()
        return result
    through = chosen[-1][0].last_record_id
    in_window = (ConsentRecord.site_id == site.id, ConsentRecord.seq <= chosen[-1][0].last_seq)
    visitors = set(session.execute(sa.select(ConsentRecord.visitor_id).where(*in_window)
                                   .distinct()).scalars())
    if dry_run:
        result.records = session.execute(sa.select(sa.func.count()).where(*in_window)
                                         .select_from(ConsentRecord)).scalar_one()
        session.rollback()
        return result
    result.records = session.execute(sa.delete(ConsentRecord).where(*in_window)).rowcount or 0
    purged_at = now.astimezone(UTC)
    for seal, ended in chosen:
        seal.purged_at = purged_at
        seal.purge_marker = sign_purge(signer, purge_statement(seal, purged_at, cutoff, buffer_days, ended))
    orphans = [visitor for visitor in visitors if session.execute(
        sa.select(ConsentRecord.id).where(ConsentRecord.site_id == site.id,
                                          ConsentRecord.visitor_id == visitor).limit(1)).scalar() is None]
    log_access(session, site_id=site.id, actor=actor, action="purge", rows=result.records,
               details={"seals": result.seals, "through_record_id": through,
                        "cutoff": result.to_dict()["cutoff"], "visitor_keys": len(orphans),
                        "buffer_days": buffer_days}, commit=False)
    result.visitor_keys = destroy_keys(session, site.id, orphans)  # commits the purge first
    if cache is not None:
        for visitor in orphans:
            cache.forget(site.id, visitor)
    return result
