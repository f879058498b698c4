"""One way to write and read moments: ISO-8601 in UTC with a `Z`, as every answer, export, log
line and digest shows them.

Seconds are enough for what people read (`expires_at`, `recorded_at`); proof (record digests,
exports, seals) keeps microseconds, because a digest is recomputed from the exported text."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None, precise: bool = False) -> str | None:
    """`2026-01-31T12:00:00Z` (or `…12:00:00.000000Z` when `precise`); None stays None."""
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat(timespec="microseconds" if precise else "seconds")
    return text.replace("+00:00", "Z")


def from_timestamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def parse_iso(text: str) -> datetime:
    """An ISO-8601 date or date-time as an aware UTC datetime (no zone means UTC); ValueError if
    it is not one. Accepts the `Z` suffix that `datetime.fromisoformat` reads only since 3.11."""
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError(f"{text!r} is out of range") from None
