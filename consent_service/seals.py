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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import proof
from .ids import id_time_floor
from .models import ConsentRecord, Seal, Site
from .sites import canonical_json

log = logging.getLogger(__name__)

#: Records younger than this are left for the next seal, so late commits are never skipped.
SETTLE_SECONDS = 10.0
#: Bytes per manifest entry: the 26-character record id, then the 32-byte record digest.
ID_LENGTH = 26
ENTRY_LENGTH = ID_LENGTH + 32
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def genesis_digest(site_id: str) -> str:
    """What the first seal of a site follows."""
    return hashlib.sha256(b"consent-service seal chain\x00" + site_id.encode()).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def seal_digest(seal: Any) -> str:
    """SHA-256 over the canonical JSON of the fields a seal commits to."""
    return hashlib.sha256(canonical_json({
        "site_id": seal.site_id, "first_record_id": seal.first_record_id,
        "last_record_id": seal.last_record_id, "record_count": seal.record_count,
        "records_digest": seal.records_digest, "previous_digest": seal.previous_digest,
        "created_at": _iso(seal.created_at),
    })).hexdigest()


def manifest_entry(record_id: str, digest: str) -> bytes:
    return record_id.encode("ascii") + bytes.fromhex(digest)


def iter_manifest(manifest: bytes | None) -> Iterator[tuple[str, str]]:
    """(record id, record digest) pairs, in order."""
    data = manifest or b""
    for start in range(0, len(data) - len(data) % ENTRY_LENGTH, ENTRY_LENGTH):
        yield (data[start:start + ID_LENGTH].decode("ascii", "replace"),
               data[start + ID_LENGTH:start + ENTRY_LENGTH].hex())


def id_time(record_id: str) -> datetime | None:
    """When a record id was made (its first 10 characters are milliseconds since the epoch)."""
    value = 0
    for char in record_id[:10]:
        index = _ALPHABET.find(char)
        if index < 0:
            return None
        value = value * 32 + index
    return datetime.fromtimestamp(value / 1000, UTC)


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


# ----------------------------------------------------------------------------------------- verification

@dataclass
class Problem:
    """The first thing that does not match: what kind, which record or seal, and why."""

    kind: str
    message: str
    record_id: str | None = None
    seal_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "record_id": self.record_id,
                "seal_id": self.seal_id}


@dataclass
class Verification:
    site_id: str
    ok: bool = True
    problem: Problem | None = None
    seals: int = 0
    purged_seals: int = 0
    sealed_records: int = 0
    unsealed_records: int = 0
    oldest_unsealed_id: str | None = None
    last_seal: dict[str, Any] | None = None
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def fail(self, kind: str, message: str, *, record_id: str | None = None,
             seal_id: int | None = None) -> Verification:
        self.ok = False
        self.problem = Problem(kind, message, record_id, seal_id)
        return self

    def to_dict(self) -> dict[str, Any]:
        oldest = id_time(self.oldest_unsealed_id) if self.oldest_unsealed_id else None
        return {
            "site": self.site_id, "ok": self.ok,
            "problem": self.problem.to_dict() if self.problem else None,
            "seals": self.seals, "purged_seals": self.purged_seals,
            "sealed_records": self.sealed_records, "unsealed_records": self.unsealed_records,
            "oldest_unsealed_record_id": self.oldest_unsealed_id,
            "oldest_unsealed_at": _iso(oldest) if oldest else None,
            "last_seal": self.last_seal, "checked_at": _iso(self.checked_at),
        }


_RECORD_COLUMNS = [ConsentRecord.__table__.c[name] for name in proof.DIGEST_FIELDS] + [
    ConsentRecord.__table__.c.digest]


def _records(connection: sa.Connection, site_id: str) -> Iterator[Any]:
    result = connection.execute(
        sa.select(*_RECORD_COLUMNS).where(ConsentRecord.site_id == site_id).order_by(ConsentRecord.id),
        execution_options={"yield_per": 2000})
    for row in result:
        yield row._mapping


def snapshot_connection(source: Any) -> sa.Connection:
    """A connection of its own that sees one snapshot for all its reads (REPEATABLE READ on
    PostgreSQL; SQLite readers see one snapshot per transaction anyway)."""
    engine = source if isinstance(source, sa.Engine) else source.get_bind()
    connection = engine.connect()
    if connection.dialect.name == "postgresql":
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
    return connection


def verify(session: Session, site_id: str) -> Verification:
    """Walk the seal chain and every record of a site in id order; stop at the first mismatch.

    Memory stays flat: records are streamed, and one seal's manifest is loaded at a time. All reads
    share one snapshot, so a seal or purge made meanwhile cannot look like tampering."""
    report = Verification(site_id=site_id)
    with snapshot_connection(session) as connection, connection.begin():
        seals = connection.execute(
            sa.select(Seal.id, Seal.site_id, Seal.first_record_id, Seal.last_record_id, Seal.record_count,
                      Seal.records_digest, Seal.previous_digest, Seal.digest, Seal.created_at,
                      Seal.purged_at)
            .where(Seal.site_id == site_id).order_by(Seal.id)).all()
        records = _records(connection, site_id)
        try:
            return _walk(connection, report, seals, records)
        finally:
            records.close()


def _walk(connection: sa.Connection, report: Verification, seals: list[Any], records: Iterator[Any]) -> Verification:
    site_id = report.site_id
    pending = next(records, None)
    expected_previous = genesis_digest(site_id)
    previous_last = ""
    seen_live = False
    for seal in seals:
        report.seals += 1
        if seal.digest != seal_digest(seal):
            return report.fail("seal_edited", f"seal {seal.id} does not hash to its digest: "
                               "one of its fields was changed", seal_id=seal.id)
        if seal.previous_digest != expected_previous:
            return report.fail("seal_chain_broken", f"seal {seal.id} does not follow the seal before it: "
                               "a seal was removed, inserted or rewritten", seal_id=seal.id)
        if not (previous_last < seal.first_record_id <= seal.last_record_id):
            return report.fail("seal_edited", f"seal {seal.id} covers a window that overlaps or "
                               "precedes the one before it", seal_id=seal.id)
        expected_previous, previous_last = seal.digest, seal.last_record_id
        if seal.purged_at is not None:
            report.purged_seals += 1
            if seen_live:
                return report.fail("purge_out_of_order", f"seal {seal.id} is marked purged but an "
                                   "earlier seal is not: retention only removes the oldest periods",
                                   seal_id=seal.id)
            if pending is not None and pending["id"] <= seal.last_record_id:
                return report.fail("record_inserted", f"record {pending['id']} lies in the period of "
                                   f"seal {seal.id}, which was purged", record_id=pending["id"],
                                   seal_id=seal.id)
            continue
        seen_live = True
        manifest = connection.execute(sa.select(Seal.manifest).where(Seal.id == seal.id)).scalar() or b""
        if hashlib.sha256(manifest).hexdigest() != seal.records_digest:
            return report.fail("seal_edited", f"seal {seal.id}: the list of sealed records does not hash "
                               "to its records_digest", seal_id=seal.id)
        count = 0
        for record_id, digest in iter_manifest(manifest):
            if pending is not None and pending["id"] < record_id:
                inside = pending["id"] >= seal.first_record_id
                return _inserted(report, pending["id"], seal.id if inside else None)
            if pending is None or pending["id"] != record_id:
                return report.fail("record_deleted", f"record {record_id}, sealed by seal {seal.id}, is "
                                   "missing", record_id=record_id, seal_id=seal.id)
            actual = proof.record_digest(pending)
            if actual != digest or pending["digest"] != digest:
                return report.fail("record_edited", f"record {record_id} does not match the digest "
                                   f"seal {seal.id} holds for it: it was changed after sealing",
                                   record_id=record_id, seal_id=seal.id)
            count += 1
            pending = next(records, None)
        if count != seal.record_count or count * ENTRY_LENGTH != len(manifest):
            return report.fail("seal_edited", f"seal {seal.id} says {seal.record_count} records but lists "
                               f"{count}", seal_id=seal.id)
        report.sealed_records += count
        report.last_seal = {"id": seal.id, "last_record_id": seal.last_record_id, "digest": seal.digest,
                            "created_at": _iso(seal.created_at)}
    if report.last_seal is None and seals:
        last = seals[-1]
        report.last_seal = {"id": last.id, "last_record_id": last.last_record_id, "digest": last.digest,
                            "created_at": _iso(last.created_at)}
    while pending is not None:
        if pending["id"] <= previous_last:
            return _inserted(report, pending["id"], None)
        if proof.record_digest(pending) != pending["digest"]:
            return report.fail("record_edited", f"record {pending['id']} (not yet sealed) does not match "
                               "its own digest", record_id=pending["id"])
        report.unsealed_records += 1
        report.oldest_unsealed_id = report.oldest_unsealed_id or pending["id"]
        pending = next(records, None)
    return report


def _inserted(report: Verification, record_id: str, seal_id: int | None) -> Verification:
    where = f"inside the window of seal {seal_id}" if seal_id else "between two sealed windows"
    return report.fail("record_inserted", f"record {record_id} lies {where} but no seal lists it: it was "
                       "inserted after sealing", record_id=record_id, seal_id=seal_id)


# ------------------------------------------------------------------------------------ automatic sealing

class AutoSealer:
    """Decides, in process and without a query, when it is worth looking for work after a new record.

    Each process counts the records it wrote per site and checks the database's backlog (two index
    probes) once it has written an eighth of a batch, or once `check_seconds` have passed since its
    last check. The check itself runs after the response has been sent (see api/compliance.py), so
    recording a choice never waits for it."""

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


auto_sealer = AutoSealer()
