"""A visitor's own data, reached with its preference token: its consent history (GDPR Art. 15)
and the erasure of its personal fields (Art. 17).

Erasure destroys the visitor's key (overwritten, then deleted, so that no copy stays in the live
database files: consents/visitor_keys.py), so every encrypted page URL and user agent of that
visitor becomes unreadable. The ciphertexts stay, unreadable, because the seal covers them: a
genuine erasure changes nothing verification checks, while a ciphertext nulled or swapped is
tampering. The choices stay as proof of consent (Art. 7(1), 17(3)(b/e)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..consents.cache import ConsentCache
from ..consents.fields import FIELDS, HISTORY_FIELDS
from ..consents.visitor_keys import destroy_keys, open_key
from ..crypto import FieldCipher
from ..errors import Unauthorized
from ..keyring import Keyring
from ..models import ConsentRecord, VisitorKey
from ..times import iso
from ..tokens import TokenVerifier
from .access_log import log_access

HISTORY_LIMIT = 1000


def visitor_from_token(verifier: TokenVerifier, token: str | None) -> str:
    """The visitor a token names, if the token is this site's (expired or outdated is fine: the
    signature proves who it is). Anything else is a 401."""
    if not token:
        raise Unauthorized("missing_token", "send the visitor's current token in X-Consent-Token")
    check = verifier.verify(token)
    if check.status == "invalid" or not check.visitor_id:
        raise Unauthorized("invalid_token", "the token is not a valid token of this site")
    return check.visitor_id


_KINDS = {field.name: field.kind for field in FIELDS}
_PERSONAL = {field.name for field in FIELDS if field.personal}


def _shown(row: ConsentRecord, name: str, cipher: FieldCipher | None) -> Any:
    """A record field as the visitor's history shows it: decrypted, times as ISO-8601."""
    value = getattr(row, name)
    if name in _PERSONAL:
        return cipher.decrypt(row.id, name, value) if cipher is not None else None
    if _KINDS[name] == "time":
        return iso(value, precise=True)
    return dict(value) if _KINDS[name] == "json" else value


def visitor_cipher(session: Session, keyring: Keyring, site_id: str, visitor_id: str) -> FieldCipher | None:
    """The cipher of a visitor's personal fields, or None once they are erased."""
    stored = session.execute(sa.select(VisitorKey.key).where(
        VisitorKey.visitor_id == visitor_id, VisitorKey.site_id == site_id)).scalar()
    key = open_key(keyring, site_id, visitor_id, stored)
    return FieldCipher(key) if key is not None else None


def history(session: Session, keyring: Keyring, site_id: str, visitor_id: str,
            actor: str | None = None) -> dict[str, Any]:
    """Every record of a visitor, newest first, with its own personal fields decrypted (the fields
    marked `history` in consents/fields.py)."""
    cipher = visitor_cipher(session, keyring, site_id, visitor_id)
    rows = session.execute(
        sa.select(ConsentRecord).where(ConsentRecord.site_id == site_id,
                                       ConsentRecord.visitor_id == visitor_id)
        .order_by(ConsentRecord.id.desc()).limit(HISTORY_LIMIT)).scalars().all()
    records = [{name: _shown(row, name, cipher) for name in HISTORY_FIELDS} for row in rows]
    if actor is not None:
        log_access(session, site_id=site_id, actor=actor, action="visitor.history",
                   details={"visitor_id": visitor_id}, rows=len(records))
    else:
        session.rollback()
    return {"visitor_id": visitor_id, "personal_data": "present" if cipher is not None else "erased",
            "records": records, "truncated": len(records) == HISTORY_LIMIT}


@dataclass
class Erasure:
    visitor_id: str
    key_deleted: bool
    records: int

    def to_dict(self) -> dict[str, Any]:
        return {"visitor_id": self.visitor_id, "erased": True, "key_deleted": self.key_deleted,
                "records": self.records}


def erase(session: Session, site_id: str, visitor_id: str, actor: str,
          cache: ConsentCache | None = None) -> Erasure:
    """Destroy the visitor's key, committed with the log entry; its ciphertexts stay, unreadable.
    Erasing twice is harmless."""
    has_key = session.execute(sa.select(VisitorKey.visitor_id).where(
        VisitorKey.visitor_id == visitor_id, VisitorKey.site_id == site_id)).scalar() is not None
    records = session.execute(sa.select(sa.func.count()).select_from(ConsentRecord).where(
        ConsentRecord.site_id == site_id, ConsentRecord.visitor_id == visitor_id,
        sa.or_(ConsentRecord.page_url.is_not(None), ConsentRecord.user_agent.is_not(None)))).scalar_one()
    log_access(session, site_id=site_id, actor=actor, action="visitor.erase", rows=records if has_key else 0,
               details={"visitor_id": visitor_id, "key_deleted": has_key}, commit=False)
    deleted = destroy_keys(session, site_id, [visitor_id] if has_key else [])
    if cache is not None:
        cache.forget(site_id, visitor_id)
    return Erasure(visitor_id=visitor_id, key_deleted=bool(deleted), records=records if has_key else 0)
