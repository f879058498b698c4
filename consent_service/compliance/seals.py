"""Seals: tamper evidence for the append-only consent records without a global write lock.

Records are written freely; every so often the settled records that follow the last seal are
sealed as a batch. A seal stores its window's *manifest* — the ordered pairs (record id, record
digest) — commits to it with `records_digest = SHA-256(manifest)`, and commits to the previous seal
through `previous_digest`; its own `digest` covers all of that. So:

- an edited record no longer matches the digest its seal's manifest holds;
- a deleted record is named by the manifest but missing from the table;
- an inserted (forged) record lies in a sealed window, or between two seals, without being named;
- an edited seal no longer hashes to its digest, or breaks the link to the next seal.

Two sealers cannot fork the chain: `(site_id, previous_digest)` is unique, so the second of two
concurrent seals fails to insert and is rolled back. Records are sealed only once they are
`SETTLE_SECONDS` old, so a record whose transaction is still open when a seal is cut (its id is
taken from the clock before it commits) is never skipped over.

Retention removes whole sealed periods: the seal stays, marked `purged_at`, and verification keeps
checking the chain through it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..canonical import canonical_hash
from ..ids import id_time, id_time_floor
from ..models import ConsentRecord, Seal, Site
from ..times import iso

log = logging.getLogger(__name__)

#: Records younger than this are left for the next seal, so late commits are never skipped.
SETTLE_SECONDS = 10.0
#: Bytes per manifest entry: the 26-character record id, then the 32-byte record digest.
ID_LENGTH = 26
ENTRY_LENGTH = ID_LENGTH + 32


def genesis_digest(site_id: str) -> str:
    """What the first seal of a site follows."""
    return hashlib.sha256(b"consent-service seal chain\x00" + site_id.encode()).hexdigest()


def seal_digest(seal: Any) -> str:
    """SHA-256 over the canonical JSON of the fields a seal commits to."""
    return canonical_hash({
        "site_id": seal.site_id, "first_record_id": seal.first_record_id,
        "last_record_id": seal.last_record_id, "record_count": seal.record_count,
        "records_digest": seal.records_digest, "previous_digest": seal.previous_digest,
        "created_at": iso(seal.created_at, precise=True),
    })


def manifest_entry(record_id: str, digest: str) -> bytes:
    return record_id.encode("ascii") + bytes.fromhex(digest)


def iter_manifest(manifest: bytes | None) -> Iterator[tuple[str, str]]:
    """(record id, record digest) pairs, in order."""
    data = manifest or b""
    for start in range(0, len(data) - len(data) % ENTRY_LENGTH, ENTRY_LENGTH):
        yield (data[start:start + ID_LENGTH].decode("ascii", "replace"),
               data[start + ID_LENGTH:start + ENTRY_LENGTH].hex())


# ---------------------------------------------------------------------------------------------- sealing

def last_seal(session: Session, site_id: str) -> Seal | None:
    return session.execute(
        sa.select(Seal).where(Seal.site_id == site_id).order_by(Seal.id.desc()).limit(1)).scalar()


@dataclass
class Backlog:
    """What waits for a seal: settled records after the last seal (up to one batch), and the oldest."""

    oldest_id: str | None
    full_batch: bool


def backlog(session: Session, site_id: str, batch_size: int, now: datetime | None = None) -> Backlog:
    """Two index-only probes: the first unsealed settled record, and whether a batch is full."""
    now = now or datetime.now(UTC)
    previous = session.execute(
        sa.select(Seal.last_record_id).where(Seal.site_id == site_id).order_by(Seal.id.desc()).limit(1)
    ).scalar()
    window = _window(site_id, previous, now)
    oldest = session.execute(sa.select(ConsentRecord.id).where(*window)
                             .order_by(ConsentRecord.id).limit(1)).scalar()
    full = oldest is not None and session.execute(
        sa.select(ConsentRecord.id).where(*window).order_by(ConsentRecord.id)
        .offset(max(batch_size - 1, 0)).limit(1)).scalar() is not None
    return Backlog(oldest_id=oldest, full_batch=full)


def _window(site_id: str, after_id: str | None, now: datetime) -> list[Any]:
    settled_before = id_time_floor((now - timedelta(seconds=SETTLE_SECONDS)).timestamp())
    conditions = [ConsentRecord.site_id == site_id, ConsentRecord.id < settled_before]
    if after_id is not None:
        conditions.append(ConsentRecord.id > after_id)
    return conditions


def seal_once(session: Session, site_id: str, batch_size: int, now: datetime | None = None) -> Seal | None:
    """Seal up to `batch_size` settled records after the last seal. None if there were none, or if
    another process sealed the same window first (its seal stands; nothing is forked)."""
    now = now or datetime.now(UTC)
    previous = last_seal(session, site_id)
    rows = session.execute(
        sa.select(ConsentRecord.id, ConsentRecord.digest)
        .where(*_window(site_id, previous.last_record_id if previous else None, now))
        .order_by(ConsentRecord.id).limit(max(batch_size, 1))
    ).all()
    if not rows:
        session.rollback()
        return None
    manifest = b"".join(manifest_entry(record_id, digest) for record_id, digest in rows)
    seal = Seal(
        site_id=site_id, first_record_id=rows[0][0], last_record_id=rows[-1][0], record_count=len(rows),
        records_digest=hashlib.sha256(manifest).hexdigest(),
        previous_digest=previous.digest if previous else genesis_digest(site_id),
        created_at=now.astimezone(UTC), manifest=manifest,
    )
    seal.digest = seal_digest(seal)
    session.add(seal)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return None
    return seal


def seal_pending(session: Session, site_id: str, batch_size: int, max_age_seconds: float,
                 now: datetime | None = None, force: bool = False, limit: int | None = None) -> list[Seal]:
    """Seal every full batch, then the remainder if its oldest record is older than
    `max_age_seconds` (or `force`). Returns the seals made by this call."""
    now = now or datetime.now(UTC)
    made: list[Seal] = []
    while limit is None or len(made) < limit:
        waiting = backlog(session, site_id, batch_size, now)
        if waiting.oldest_id is None:
            break
        born = id_time(waiting.oldest_id)
        overdue = born is not None and (now - born).total_seconds() >= max_age_seconds
        if not (waiting.full_batch or overdue or force):
            break
        seal = seal_once(session, site_id, batch_size, now)
        if seal is None:
            break  # someone else sealed this window; they will carry on
        made.append(seal)
    session.rollback()  # end the read transaction the probes opened
    return made


def site_ids(session: Session) -> list[str]:
    return list(session.execute(sa.select(Site.id).order_by(Site.id)).scalars())


# ------------------------------------------------------------------------------------ automatic sealing

class AutoSealer:
    """Decides, in process and without a query, when it is worth looking for work after a new record.

    Each process counts the records it wrote per site and checks the database's backlog (two index
    probes) once it has written an eighth of a batch, or once `check_seconds` have passed since its
    last check. The check itself runs after the response has been sent (see api/banner.py), so
    recording a choice never waits for it. One per app (services.py)."""

    def __init__(self, check_seconds: float = 30.0) -> None:
        self.check_seconds = check_seconds
        self._state: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def note(self, site_id: str, batch_size: int, max_age_seconds: float) -> bool:
        """Count one new record; True when this process should check the backlog now."""
        now = time.monotonic()
        interval = min(self.check_seconds, max(max_age_seconds / 4, 1.0))
        with self._lock:
            written, checked = self._state.get(site_id, (0, 0.0))
            written += 1
            due = written >= max(batch_size // 8, 1) or now - checked >= interval
            self._state[site_id] = (0, now) if due else (written, checked)
        return due

    def run(self, session: Session, site_id: str, batch_size: int, max_age_seconds: float) -> list[Seal]:
        try:
            return seal_pending(session, site_id, batch_size, max_age_seconds, limit=100)
        except Exception:  # sealing must never break the write path; the next check retries
            session.rollback()
            log.exception("automatic sealing failed for site %s", site_id)
            return []

