"""Seals: tamper evidence for the append-only consent records, signed with a key the database
does not hold, without a global write lock.

Records are written freely; every so often the settled records that follow the last seal, in the
order the database stored them (`seq`, commit order: never a writer's clock), are sealed as a
batch. A seal is a signed *statement*: the site, its window (first and last sequence and record
id, how many), the RFC 6962 Merkle root of the window's leaves (merkle.py; one leaf per record:
its sequence, id, record digest and the SHA-256 of each personal-field ciphertext, see
consents/record_crypto.py), the latest expiry in it, the previous seal's digest and the time.
The seal's `digest` is the SHA-256 of the statement's canonical JSON; `signature` is Ed25519 over
the same bytes by the newest seal key (seal_keys.py). So someone who can write to the database
but holds no service secret cannot edit, insert, delete or re-seal anything sealed: every change
breaks a root, a digest, a link or a signature they cannot remake. A truncated or rewritten tail
is caught by the chain head kept elsewhere (`proof verify --expect-head`).

The seal also stores its *manifest* — the ordered pairs (record id, leaf hash) — so verification
can name the record that changed, and a receipt can give one record's inclusion proof.

Two sealers cannot fork the chain: `(site_id, previous_digest)` is unique, so the second of two
concurrent seals fails to insert and is rolled back. Records are sealed only once the database
stored them `SETTLE_SECONDS` ago (by its own clock), so a record whose insert is still committing
when a seal is cut (the sequence is taken before the commit) is never skipped over.

Retention removes whole sealed periods: the seal stays, with a signed purge marker
(retention.py), and verification keeps checking the chain through it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..canonical import canonical_json
from ..consents.fields import PERSONAL_FIELDS
from ..consents.record_crypto import leaf_data, leaf_statement
from ..ids import id_time
from ..models import ConsentRecord, Seal, Site
from ..times import iso
from . import merkle
from .seal_keys import SealSigner

log = logging.getLogger(__name__)

#: Records the database stored less than this long ago are left for the next seal.
SETTLE_SECONDS = 10.0
#: How far apart the writers' clocks may be (keep them on NTP). A record that claims a time this
#: much earlier than a record already sealed before it was inserted late with a back-dated time
#: (verify.py); a record made at t is sealed by a seal made after t less this.
MAX_CLOCK_SKEW = timedelta(minutes=5)
#: Bytes per manifest entry: the 26-character record id, then the 32-byte leaf hash.
ID_LENGTH = 26
ENTRY_LENGTH = ID_LENGTH + merkle.HASH_LENGTH
STATEMENT_TYPE = "consent-service seal v1"


def genesis_digest(site_id: str) -> str:
    """What the first seal of a site follows."""
    return hashlib.sha256(b"consent-service seal chain\x00" + site_id.encode()).hexdigest()


def seal_statement(seal: Any) -> dict[str, Any]:
    """What a seal signs (from a model row, a result row or a mapping with the seal's columns)."""
    get = seal.get if isinstance(seal, Mapping) else lambda name: getattr(seal, name)
    return {
        "type": STATEMENT_TYPE, "site": get("site_id"),
        "first_seq": get("first_seq"), "last_seq": get("last_seq"),
        "first_record_id": get("first_record_id"), "last_record_id": get("last_record_id"),
        "record_count": get("record_count"), "merkle_root": get("merkle_root"),
        "expires_through": iso(get("expires_through"), precise=True),
        "previous_digest": get("previous_digest"), "created_at": iso(get("created_at"), precise=True),
        "key_id": get("key_id"),
    }


def statement_digest(statement: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(dict(statement))).hexdigest()


#: The fields of a seal statement.
STATEMENT_FIELDS = ("type", "site", "first_seq", "last_seq", "first_record_id", "last_record_id", "record_count",
                    "merkle_root", "expires_through", "previous_digest", "created_at", "key_id")


def record_leaf(record: Mapping[str, Any] | Any) -> bytes:
    """The RFC 6962 leaf hash of a stored record."""
    return merkle.leaf_hash(leaf_data(leaf_statement(record)))


def manifest_entry(record_id: str, leaf: bytes) -> bytes:
    return record_id.encode("ascii") + leaf


def iter_manifest(manifest: bytes | None) -> Iterator[tuple[str, bytes]]:
    """(record id, leaf hash) pairs, in order."""
    data = manifest or b""
    for start in range(0, len(data) - len(data) % ENTRY_LENGTH, ENTRY_LENGTH):
        yield (data[start:start + ID_LENGTH].decode("ascii", "replace"), data[start + ID_LENGTH:start + ENTRY_LENGTH])


# ---------------------------------------------------------------------------------------------- sealing

def last_seal(session: Session, site_id: str) -> Seal | None:
    return session.execute(
        sa.select(Seal).where(Seal.site_id == site_id).order_by(Seal.id.desc()).limit(1)).scalar()


def settled_before(session: Session, now: datetime | None) -> datetime:
    """Records stored before this instant are settled. The database's clock decides (so no
    writer's clock matters), unless the caller names the moment (tests, backfills)."""
    if now is None and session.get_bind().dialect.name == "postgresql":
        now = session.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
    return (now or datetime.now(UTC)) - timedelta(seconds=SETTLE_SECONDS)


@dataclass
class Backlog:
    """What waits for a seal: settled records after the last seal (up to one batch), and the oldest."""

    oldest_id: str | None
    full_batch: bool


def _after_seq(session: Session, site_id: str) -> int:
    last = session.execute(sa.select(Seal.last_seq).where(Seal.site_id == site_id)
                           .order_by(Seal.id.desc()).limit(1)).scalar()
    return last or 0


def _window(site_id: str, after_seq: int, cutoff: datetime) -> list[Any]:
    return [ConsentRecord.site_id == site_id, ConsentRecord.seq > after_seq, ConsentRecord.stored_at < cutoff]


def backlog(session: Session, site_id: str, batch_size: int, now: datetime | None = None) -> Backlog:
    """Two index probes: the first unsealed settled record, and whether a batch is full."""
    window = _window(site_id, _after_seq(session, site_id), settled_before(session, now))
    oldest = session.execute(sa.select(ConsentRecord.id).where(*window)
                             .order_by(ConsentRecord.seq).limit(1)).scalar()
    full = oldest is not None and session.execute(
        sa.select(ConsentRecord.id).where(*window).order_by(ConsentRecord.seq)
        .offset(max(batch_size - 1, 0)).limit(1)).scalar() is not None
    return Backlog(oldest_id=oldest, full_batch=full)


_SEALED_COLUMNS = (ConsentRecord.seq, ConsentRecord.id, ConsentRecord.digest, ConsentRecord.expires_at,
                   *(ConsentRecord.__table__.c[name] for name in PERSONAL_FIELDS))


def seal_once(session: Session, site_id: str, batch_size: int, signer: SealSigner,
              now: datetime | None = None) -> Seal | None:
    """Seal up to `batch_size` settled records after the last seal. None if there were none, or if
    another process sealed the same window first (its seal stands; nothing is forked)."""
    cutoff = settled_before(session, now)
    now = now or datetime.now(UTC)
    previous = last_seal(session, site_id)
    rows = session.execute(
        sa.select(*_SEALED_COLUMNS).where(*_window(site_id, previous.last_seq or 0 if previous else 0, cutoff))
        .order_by(ConsentRecord.seq).limit(max(batch_size, 1))).all()
    if not rows:
        session.rollback()
        return None
    leaves = [record_leaf(row._mapping) for row in rows]
    seal = Seal(
        site_id=site_id, first_record_id=rows[0].id, last_record_id=rows[-1].id, record_count=len(rows),
        first_seq=rows[0].seq, last_seq=rows[-1].seq, merkle_root=merkle.root(leaves).hex(),
        expires_through=max(row.expires_at for row in rows),
        previous_digest=previous.digest if previous else genesis_digest(site_id),
        created_at=now.astimezone(UTC), key_id=signer.kid,
        manifest=b"".join(manifest_entry(row.id, leaf) for row, leaf in zip(rows, leaves, strict=True)),
    )
    sign_seal(seal, signer)
    session.add(seal)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return None
    return seal


def sign_seal(seal: Seal, signer: SealSigner) -> None:
    """Set the seal's key id, digest and signature from its fields."""
    seal.key_id = signer.kid
    statement = canonical_json(seal_statement(seal))
    seal.digest = hashlib.sha256(statement).hexdigest()
    seal.signature = signer.sign(statement)[1]


def seal_pending(session: Session, site_id: str, batch_size: int, max_age_seconds: float, signer: SealSigner,
                 now: datetime | None = None, force: bool = False, limit: int | None = None) -> list[Seal]:
    """Seal every full batch, then the remainder if its oldest record is older than
    `max_age_seconds` (or `force`). Returns the seals made by this call."""
    made: list[Seal] = []
    while limit is None or len(made) < limit:
        waiting = backlog(session, site_id, batch_size, now)
        if waiting.oldest_id is None:
            break
        born = id_time(waiting.oldest_id)
        overdue = born is not None and ((now or datetime.now(UTC)) - born).total_seconds() >= max_age_seconds
        if not (waiting.full_batch or overdue or force):
            break
        seal = seal_once(session, site_id, batch_size, signer, now)
        if seal is None:
            break  # someone else sealed this window; they will carry on
        made.append(seal)
    session.rollback()  # end the read transaction the probes opened
    return made


def site_ids(session: Session) -> list[str]:
    return list(session.execute(sa.select(Site.id).order_by(Site.id)).scalars())


def expected_seal_time(stored_at: datetime, max_age_seconds: float) -> datetime:
    """When an unsealed record will be sealed at the latest, with the sealer running (a receipt
    says so): its batch is overdue after `max_age_seconds`, checked every few seconds after. From
    when the database stored it (its clock), not the writer's clock, which seals do not follow."""
    return stored_at + timedelta(seconds=max_age_seconds + min(30.0, max(max_age_seconds / 4, 1.0)) + SETTLE_SECONDS)


# ------------------------------------------------------------------------------------ automatic sealing

class AutoSealer:
    """Decides, in process and without a query, when it is worth looking for work after a new record.

    Each process counts the records it wrote per site and checks the database's backlog (two index
    probes) once it has written an eighth of a batch, or once `check_seconds` have passed since its
    last check. The check itself runs after the response has been sent (see api/banner.py), so
    recording a choice never waits for it. One per app (services.py), with the app's seal key."""

    def __init__(self, signer: SealSigner, check_seconds: float = 30.0) -> None:
        self.signer = signer
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
            return seal_pending(session, site_id, batch_size, max_age_seconds, self.signer, limit=100)
        except Exception:  # sealing must never break the write path; the next check retries
            session.rollback()
            log.exception("automatic sealing failed for site %s", site_id)
            return []
