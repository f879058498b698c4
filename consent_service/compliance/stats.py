"""Consent statistics per day or ISO week: how many choices by method, and the opt-in rate of
every optional category (the share of choices that granted it), overall and per regime (records
from before regimes count as opt-in, the only model there was).

Aggregated in Python over a streamed query of three columns, so the same code runs on SQLite and
PostgreSQL and memory is bounded by the number of intervals, not of records.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..consents.fields import METHODS
from ..cookie_patterns import NECESSARY
from ..errors import ServiceError
from ..ids import id_time, id_time_floor
from ..regimes import DEFAULT_REGIME
from ..times import iso
from .filters import check_range

INTERVALS = ("day", "week")
MAX_INTERVALS = 3660
DEFAULT_DAYS = 30


def _floor(moment: datetime, interval: str) -> datetime:
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday()) if interval == "week" else day


def _rates(granted: Counter[str], offered: Counter[str]) -> dict[str, float]:
    return {category: round(granted[category] / offered[category], 4) for category in sorted(offered)}


def consent_stats(connection: Connection, site_id: str, since: datetime | None, until: datetime | None,
                  interval: str = "day") -> dict[str, Any]:
    if interval not in INTERVALS:
        raise ServiceError("invalid_filter", "interval must be day or week", details={"parameter": "interval"})
    check_range(since, until)
    until = until or datetime.now(UTC)
    since = since or until - timedelta(days=DEFAULT_DAYS)
    step = timedelta(days=7 if interval == "week" else 1)
    first = _floor(since, interval)
    if (until - first) / step > MAX_INTERVALS:
        raise ServiceError("range_too_large", f"at most {MAX_INTERVALS} intervals per request; "
                           "narrow since/until or use interval=week")

    methods: dict[datetime, Counter[str]] = {}
    granted: dict[datetime, Counter[str]] = {}
    offered: dict[datetime, Counter[str]] = {}
    # (bucket, regime) -> records, and category grants/offers
    per_regime: dict[tuple[datetime, str], tuple[Counter[str], Counter[str], Counter[str]]] = {}
    query = sa.text(
        "SELECT id, method, CAST(choices AS TEXT), regime FROM consent_records "
        "WHERE site_id = :site_id AND id >= :since_id AND id < :until_id ORDER BY id")
    params = {"site_id": site_id, "since_id": id_time_floor(first.timestamp()),
              "until_id": id_time_floor(until.timestamp())}
    rows = connection.execute(query, params, execution_options={"stream_results": True, "yield_per": 5000})
    for record_id, method, choices_text, regime_id in rows:
        moment = id_time(record_id)
        if moment is None:
            continue
        bucket = _floor(moment, interval)
        methods.setdefault(bucket, Counter())[method] += 1
        regime_counts, regime_offered, regime_granted = per_regime.setdefault(
            (bucket, regime_id or DEFAULT_REGIME), (Counter(), Counter(), Counter()))
        regime_counts[method] += 1
        try:
            choices = json.loads(choices_text)
        except (TypeError, ValueError):
            continue
        offered_here = offered.setdefault(bucket, Counter())
        granted_here = granted.setdefault(bucket, Counter())
        for category, allowed in choices.items():
            if category == NECESSARY:
                continue
            offered_here[category] += 1
            regime_offered[category] += 1
            if allowed is True:
                granted_here[category] += 1
                regime_granted[category] += 1

    intervals = []
    bucket = first
    while bucket < until:
        counts = methods.get(bucket, Counter())
        offered_here = offered.get(bucket, Counter())
        granted_here = granted.get(bucket, Counter())
        intervals.append({
            "start": iso(bucket, precise=True), "end": iso(bucket + step, precise=True), "total": sum(counts.values()),
            "by_method": {method: counts.get(method, 0) for method in METHODS},
            "opt_in_rate": _rates(granted_here, offered_here),
            "by_regime": {regime_id: {"total": sum(counts_.values()), "by_method": dict(counts_),
                                      "opt_in_rate": _rates(granted_, offered_)}
                          for (at, regime_id), (counts_, offered_, granted_) in sorted(per_regime.items())
                          if at == bucket},
        })
        bucket += step
    return {"site": site_id, "interval": interval, "since": iso(first, precise=True), "until": iso(until, precise=True),
            "intervals": intervals}
