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
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..keyring import Keyring, KeyUnavailable
from ..models import VisitorKey

log = logging.getLogger(__name__)
#: The length of a key stored before wrapping (a wrapped key is longer).
LEGACY_KEY_LENGTH = 32
_TABLE = VisitorKey.__table__


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
    """Destroy visitor keys so that no copy stays in the live database files: overwrite, let the
    database drop the old row version, then delete (see docs/compliance.md for what was measured).

    Commits the caller's transaction first (with the caller's other work, e.g. its access-log
    entry). PostgreSQL keeps an updated row's old version on its page until VACUUM prunes it, and
    pruning compacts the page over the old bytes only when a live row (the overwritten one) sits
    below them; SQLite zeroes freed space (`secure_delete`, db.py) and a checkpoint moves the
    zeroed pages into the file and empties the write-ahead log."""
    visitor_ids = list(visitor_ids)
    if not visitor_ids:
        session.commit()
        return 0
    engine = session.get_bind()
    destroyed = 0
    for start in range(0, len(visitor_ids), 500):
        chunk = visitor_ids[start:start + 500]
        where = (_TABLE.c.site_id == site_id, _TABLE.c.visitor_id.in_(chunk))
        destroyed += session.execute(_TABLE.update().where(*where).values(key=_zeros(engine))).rowcount or 0
    session.commit()
    if engine.dialect.name == "postgresql":
        _vacuum(engine)
    for start in range(0, len(visitor_ids), 500):
        session.execute(_TABLE.delete().where(_TABLE.c.site_id == site_id,
                                              _TABLE.c.visitor_id.in_(visitor_ids[start:start + 500])))
    session.commit()
    if engine.dialect.name == "postgresql":
        _vacuum(engine)
    else:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return destroyed


def _zeros(engine: sa.Engine) -> sa.ColumnElement[bytes]:
    """As many zero bytes as the stored key has, so the overwrite fits where the key was."""
    if engine.dialect.name == "sqlite":
        return sa.func.zeroblob(sa.func.length(_TABLE.c.key))
    return sa.func.decode(sa.func.repeat("00", sa.func.octet_length(_TABLE.c.key)), "hex")


def _vacuum(engine: sa.Engine) -> None:
    """Prune dead row versions of visitor_keys now (the heap only: index entries hold no key)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM (INDEX_CLEANUP OFF, TRUNCATE OFF) visitor_keys")
