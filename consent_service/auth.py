"""API keys for backends, auditors and admins.

A key reads `csk_<id>_<secret>`. Only the SHA-256 of the secret is stored (the secret is 256 random
bits, so a fast hash is the right one) and compared in constant time. Each key belongs to one site
and has one scope; `admin` satisfies every scope. Verified keys are remembered in-process for a few
seconds so the hot read path costs no database round trip; revoking a key forgets it at once in the
revoking process and within that time everywhere else.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .errors import Forbidden, NotFound, Unauthorized
from .models import ApiKey
from .times import utcnow

SCOPES = ("read", "export", "admin")
PREFIX = "csk_"


@dataclass(frozen=True)
class Caller:
    """An authenticated key: what it may do, and the id written to the access log."""

    key_id: str
    site_id: str
    scope: str

    def require(self, site_id: str, scope: str) -> None:
        if not hmac.compare_digest(self.site_id.encode(), site_id.encode()):
            raise Forbidden("wrong_site", "this API key belongs to another site")
        if self.scope != scope and self.scope != "admin":
            raise Forbidden("insufficient_scope", f"this endpoint needs a key with the {scope!r} scope")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(session: Session, site_id: str, scope: str, label: str | None = None) -> tuple[ApiKey, str]:
    """Create a key and return it with its plaintext, which is shown once and never stored."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(id=key_id, site_id=site_id, scope=scope, secret_hash=_hash(secret), label=label)
    session.add(key)
    session.commit()
    return key, f"{PREFIX}{key_id}_{secret}"


def list_keys(session: Session, site_id: str) -> list[ApiKey]:
    return list(session.execute(
        sa.select(ApiKey).where(ApiKey.site_id == site_id).order_by(ApiKey.created_at)).scalars())


def revoke_key(session: Session, key_id: str, cache: VerifiedKeyCache | None = None) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound("unknown_key", f"no API key {key_id!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.commit()
    if cache is not None:
        cache.forget(key_id)
    return key


class VerifiedKeyCache:
    """Keys verified in the last `ttl_seconds`, by the presented value (one per app)."""

    def __init__(self, ttl_seconds: float = 10.0) -> None:
        self.ttl_seconds = ttl_seconds
        self._entries: dict[str, tuple[float, Caller]] = {}
        self._lock = threading.Lock()

    def get(self, presented: str) -> Caller | None:
        entry = self._entries.get(presented)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        return None

    def put(self, presented: str, caller: Caller) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[presented] = (time.monotonic() + self.ttl_seconds, caller)

    def forget(self, key_id: str) -> None:
        with self._lock:
            for presented, (_, caller) in list(self._entries.items()):
                if caller.key_id == key_id:
                    del self._entries[presented]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def authenticate(session: Session, authorization: str | None, cache: VerifiedKeyCache) -> Caller:
    """Resolve an `Authorization: Bearer csk_...` header to a Caller, or raise 401."""
    if not authorization:
        raise Unauthorized("missing_api_key", "send an API key as 'Authorization: Bearer csk_...'")
    scheme, _, presented = authorization.partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented.startswith(PREFIX) or len(presented) > 200:
        raise Unauthorized("invalid_api_key", "the API key is malformed")
    cached = cache.get(presented)
    if cached is not None:
        return cached
    key_id, _, secret = presented[len(PREFIX):].partition("_")
    row = session.get(ApiKey, key_id) if key_id and secret else None
    # Hash even when the id is unknown, so timing does not tell which ids exist.
    expected = row.secret_hash if row is not None else "0" * 64
    if not hmac.compare_digest(_hash(secret), expected) or row is None:
        raise Unauthorized("invalid_api_key", "the API key is not valid")
    if row.revoked_at is not None:
        raise Unauthorized("revoked_api_key", "the API key has been revoked")
    caller = Caller(key_id=row.id, site_id=row.site_id, scope=row.scope)
    cache.put(presented, caller)
    return caller
