"""A visitor's current consent: the newest record, and what it means under the site's current
policy. Answered from the cache when it can be (one Redis GET, or none), else from the database."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..cookie_patterns import NECESSARY
from ..decision import NECESSARY_ONLY, ConsentDecision, Status
from ..models import ConsentRecord
from ..sites.state import SiteState
from ..times import parse_iso
from .cache import ConsentCache, summary_of


def latest_record(session: Session, site_id: str, visitor_id: str) -> ConsentRecord | None:
    return session.execute(
        sa.select(ConsentRecord)
        .where(ConsentRecord.site_id == site_id, ConsentRecord.visitor_id == visitor_id)
        .order_by(ConsentRecord.id.desc()).limit(1)
    ).scalar()


def decision_of(site: SiteState, visitor_id: str, summary: dict[str, Any] | None,
                now: float | None = None) -> ConsentDecision:
    """A record summary read as a decision under the current policy version of the regime it was
    made under (a record from before regimes: opt-in, at its own policy version)."""
    if summary is None:
        return ConsentDecision("none", visitor_id=visitor_id)
    expires_at = parse_iso(summary["expires_at"])
    status: Status = "valid"
    regime_id = summary.get("regime")
    version = summary.get("regime_version") or summary["policy_version"]
    if version < site.regime_version(regime_id) or summary["policy_version"] > site.version:
        status = "outdated"
    elif expires_at.timestamp() <= (time.time() if now is None else now):
        status = "expired"
    choices = summary["choices"]
    granted = (frozenset(c for c, on in choices.items() if on) | NECESSARY_ONLY
               if status == "valid" else frozenset({NECESSARY}))
    return ConsentDecision(
        status, granted=granted, visitor_id=visitor_id, policy_version=version,
        record_id=summary["record_id"], expires_at=expires_at, choices=choices, method=summary["method"],
        recorded_at=parse_iso(summary["recorded_at"]), regime=regime_id,
    )


def current_consent(session: Session, site: SiteState, visitor_id: str,
                    cache: ConsentCache | None = None) -> ConsentDecision:
    """The visitor's newest record and what it means now; one Redis GET when cached."""
    hit, summary = cache.get(site.id, visitor_id) if cache is not None else (False, None)
    if not hit:
        row = latest_record(session, site.id, visitor_id)
        summary = summary_of(row) if row is not None else None
        if cache is not None:
            cache.fill(site.id, visitor_id, summary)
    return decision_of(site, visitor_id, summary)
