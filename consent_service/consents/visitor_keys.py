"""Visitor keys as the database holds them: wrapped under the service's key-encryption keys
(keyring.py), bound to their site and visitor, so a database file, dump or backup alone decrypts
no personal field. Every reader (recording, the export, the visitor's history, receipts) opens a
stored key through `open_key`; erasure and retention destroy keys through `destroy_keys`.

Rows from before wrapping hold the raw 32-byte key. They are accepted, explicitly, so a database
keeps working between the upgrade and `consent-service keys rewrap`, which wraps them (and
re-wraps keys under the newest secret after a rotation); until then such a key is as exposed as
it was before.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..keyring import Keyring, KeyUnavailable
from ..models import VisitorKey

log = logging.getLogger(__name__)
#: The length of a key stored before wrapping (a wrapped key is longer).
LEGACY_KEY_LENGTH = 32
_TABLE = VisitorKey.__table__
#: How long an erasure's rewrite may wait for its part, and a compaction's (milliseconds): while it
#: waits, recording choices of visitors whose keys live in that part waits too.
ERASURE_LOCK_TIMEOUT_MS = 200
#: How long an erasure waits for transactions older than it to end before rewriting (seconds).
ERASURE_WAIT_SECONDS = 2.0
COMPACT_LOCK_TIMEOUT_MS = 2000
#: A part of the PostgreSQL visitor_keys table (migration 0005), or the table itself if unpartitioned.
_PART = re.compile(r"^visitor_keys(_p\d{2})?$")


def key_context(site_id: str, visitor_id: str) -> bytes:
    """What a wrapped key is bound to: copied to another visitor's row, it does not open."""
    return b"visitor-key\x00" + site_id.encode() + b"\x00" + visitor_id.encode()


def wrap_key(keyring: Keyring, site_id: str, visitor_id: str, key: bytes) -> bytes:
    return keyring.wrap(key, key_context(site_id, visitor_id))


def is_legacy(stored: bytes | memoryview) -> bool:
    return len(stored) == LEGACY_KEY_LENGTH


def open_key(keyring: Keyring, site_id: str, visitor_id: str, stored: bytes | memoryview | None) -> bytes | None:
    """The visitor's field key from its stored form; None when there is none, or when no
    configured secret opens it (a secret dropped too early, or a changed row: logged)."""
    if stored is None:
        return None
    if is_legacy(stored):
        return bytes(stored)
    try:
        return keyring.unwrap(stored, key_context(site_id, visitor_id))
    except KeyUnavailable:
        log.warning("the key of visitor %s (site %s) does not open with any configured secret", visitor_id, site_id)
        return None


def rewrap_keys(session: Session, keyring: Keyring, batch: int = 500) -> tuple[int, int]:
    """Wrap every legacy key and re-wrap keys not under the newest secret; (rewrapped, unopenable).
    Each batch commits on its own, so a long run can be stopped and resumed."""
    rewrapped = unopenable = 0
    after = ""
    while True:
        rows = session.execute(sa.select(_TABLE.c.visitor_id, _TABLE.c.site_id, _TABLE.c.key)
                               .where(_TABLE.c.visitor_id > after).order_by(_TABLE.c.visitor_id)
                               .limit(batch)).all()
        if not rows:
            break
        for visitor_id, site_id, stored in rows:
            if not is_legacy(stored) and keyring.is_current(stored):
                continue
            key = open_key(keyring, site_id, visitor_id, stored)
            if key is None:
                unopenable += 1
                continue
            session.execute(_TABLE.update().where(_TABLE.c.visitor_id == visitor_id)
                            .values(key=wrap_key(keyring, site_id, visitor_id, key)))
            rewrapped += 1
        session.commit()
        after = rows[-1][0]
    return rewrapped, unopenable


def destroy_keys(session: Session, site_id: str, visitor_ids: Iterable[str]) -> int:
    """Destroy visitor keys so that no copy stays in the live database files, committing the
    caller's transaction with them (and with the caller's other work, e.g. its access-log entry).

    PostgreSQL never overwrites a deleted row's bytes in place: VACUUM only compacts pages, and
    the bytes stay in a page's free space until something happens to be written over them
    (measured: often enough to matter). So the keys live in a table partitioned by hash of the
    visitor id (migration 0005), and after the delete the parts that held the keys are rewritten
    (VACUUM FULL of each part: a new file with only the live rows; the old one is unlinked). The
    rewrite locks only that part, about 1/32 of the keys, for its duration. It first waits (up to
    ERASURE_WAIT_SECONDS) for transactions older than the delete, which would make it keep the row.
    SQLite zeroes deleted content (`secure_delete`, db.py), and a TRUNCATE checkpoint moves the
    zeroed pages into the database file and empties the write-ahead log."""
    visitor_ids = list(visitor_ids)
    engine = session.get_bind()
    postgres = engine.dialect.name == "postgresql"
    parts: set[str] = set()
    destroyed = 0
    for start in range(0, len(visitor_ids), 500):
        where = (_TABLE.c.site_id == site_id, _TABLE.c.visitor_id.in_(visitor_ids[start:start + 500]))
        if postgres:
            parts.update(session.execute(sa.select(sa.text("tableoid::regclass::text")).select_from(_TABLE)
                                         .where(*where)).scalars())
        destroyed += session.execute(_TABLE.delete().where(*where)).rowcount or 0
    deleted_by = session.execute(sa.text("SELECT txid_current()")).scalar() if postgres and destroyed else None
    session.commit()
    if not destroyed:
        return 0
    if deleted_by is not None:
        _wait_for_older_transactions(engine, deleted_by)
    _rewrite(engine, parts)
    return destroyed


def _wait_for_older_transactions(engine: sa.Engine, xid: int, timeout: float = ERASURE_WAIT_SECONDS) -> bool:
    """Wait (briefly) until no transaction that began before `xid` committed is still running or
    holds a snapshot in this database: until then a rewrite must keep the deleted row, which such
    a transaction may still see. Running transactions count cluster-wide (they hold back every
    snapshot's horizon); False if some were still there after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        while True:
            older = connection.execute(sa.text(
                "SELECT txid_snapshot_xmin(txid_current_snapshot()) <= :xid OR EXISTS ("
                " SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_xmin IS NOT NULL AND age(backend_xmin) >= age((:xid % 4294967296)::text::xid))"),
                {"xid": xid}).scalar()
            if not older:
                return True
            if time.monotonic() >= deadline:
                log.warning("a transaction older than an erasure is still running: the erased key's bytes stay "
                            "in the database files until `consent-service keys compact` runs after it ends")
                return False
            time.sleep(0.02)


def compact_keys(engine: sa.Engine) -> tuple[int, int]:
    """Rewrite every part of visitor_keys (PostgreSQL) or checkpoint (SQLite): (parts rewritten,
    parts in use by a long transaction, left for the next run).

    An erasure made while a transaction older than it is open (a long export) cannot remove the
    key's bytes at once: the rewrite either cannot lock the part, or must keep the deleted row that
    transaction may still see. Run this (`consent-service keys compact`) daily from cron to bound
    that to a day after the transaction ends."""
    parts: set[str] = set()
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            parts.update(connection.execute(sa.text(
                "SELECT relid::regclass::text FROM pg_partition_tree('visitor_keys') WHERE isleaf")).scalars())
    skipped = _rewrite(engine, parts, lock_timeout_ms=COMPACT_LOCK_TIMEOUT_MS)
    return len(parts) - skipped, skipped


def _rewrite(engine: sa.Engine, parts: set[str], lock_timeout_ms: int = ERASURE_LOCK_TIMEOUT_MS) -> int:
    """Rewrite the named parts; how many could not be locked in time (left for `keys compact`).

    The rewrite needs its part to itself: a transaction still reading that part (an export that
    loaded keys from it) holds it back, and while the rewrite waits, new reads and writes of the
    part queue behind it. So it waits at most `lock_timeout_ms`, never for a long transaction."""
    skipped = 0
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if engine.dialect.name != "postgresql":
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            return 0
        connection.exec_driver_sql(f"SET lock_timeout = {int(lock_timeout_ms)}")
        for part in sorted(parts):
            if not _PART.match(part):  # names come from the catalog; refuse anything unexpected
                raise ValueError(f"unexpected partition name {part!r}")
            try:
                connection.exec_driver_sql(f"VACUUM FULL {part}")
            except sa.exc.OperationalError as error:
                if getattr(error.orig, "sqlstate", None) != "55P03":  # lock_not_available
                    raise
                log.warning("%s is in use by a long transaction: an erased key's bytes stay in it until "
                            "`consent-service keys compact` rewrites it", part)
                skipped += 1
        connection.exec_driver_sql("RESET lock_timeout")
    return skipped
