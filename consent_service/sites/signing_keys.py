"""A site's token-signing keys: created, rotated and retired here, stored with the private half
wrapped by the keyring, and handed to tokens.py as an issuer (the newest key that signs now) and a
verifier (every key that is not retired).

A rotation publishes the new key at once (JWKS, banner, config) but lets it sign only from
`signs_from` on, so that shops refreshing the JWKS and banners in caches know it before the first
token it signs reaches them; until then the previous key goes on signing. A retired key stops
verifying at once: the tokens it signed count as invalid, so retire a key only after the longest
consent lifetime has passed since it last signed (or at once, when it has leaked). A site always
keeps at least one key that signs.

Private keys never leave this module unwrapped except inside a TokenIssuer; nothing here logs or
returns them.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from ..db import LastKnownCache
from ..errors import Conflict, NotFound
from ..keyring import Keyring
from ..models import SigningKey
from ..times import utcnow
from ..tokens import PublicKeys, TokenIssuer, TokenVerifier, key_id, new_private_key, raw_public_key

#: How long a rotated-in key is published before it signs, unless told otherwise: longer than a
#: shop's JWKS refresh (60 s by default) and the banner's cache (300 s).
DEFAULT_PUBLISH_AHEAD = timedelta(minutes=10)
_KID_BYTES = 6
#: At most one extra load per site and second when a token names a key this process does not know.
_RELOAD_INTERVAL = 1.0


def _context(site_id: str, kid: str) -> bytes:
    """What a wrapped private key is bound to: copied to another row or site, it does not unwrap."""
    return b"signing-key\0" + site_id.encode() + b"\0" + kid.encode()


def _new_row(keyring: Keyring, site_id: str, signs_from: datetime, now: datetime) -> SigningKey:
    private = new_private_key()
    kid = secrets.token_urlsafe(_KID_BYTES)
    raw_private = private.private_bytes_raw()
    return SigningKey(kid=kid, site_id=site_id, public_key=raw_public_key(private.public_key()),
                      wrapped_private_key=keyring.wrap(raw_private, _context(site_id, kid)),
                      created_at=now, signs_from=signs_from, retired_at=None)


def active_keys(session: Session, site_id: str) -> list[SigningKey]:
    """The site's keys that are not retired, oldest signer first."""
    return list(session.execute(
        sa.select(SigningKey).where(SigningKey.site_id == site_id, SigningKey.retired_at.is_(None))
        .order_by(SigningKey.signs_from, SigningKey.created_at)).scalars())


def all_keys(session: Session, site_id: str) -> list[SigningKey]:
    return list(session.execute(
        sa.select(SigningKey).where(SigningKey.site_id == site_id)
        .order_by(SigningKey.signs_from, SigningKey.created_at)).scalars())


def ensure_key(session: Session, keyring: Keyring, site_id: str) -> SigningKey | None:
    """Give a site its first key when it has no active one (flushed, not committed); the new key,
    or None when there was one already."""
    if active_keys(session, site_id):
        return None
    now = utcnow()
    row = _new_row(keyring, site_id, now, now)
    session.add(row)
    session.flush()
    return row


def rotate_key(session: Session, keyring: Keyring, site_id: str,
               publish_ahead: timedelta = DEFAULT_PUBLISH_AHEAD) -> SigningKey:
    """A new key for the site, published now and signing from `now + publish_ahead` (flushed, not
    committed). The older keys go on verifying until retired."""
    if publish_ahead < timedelta(0):
        raise ValueError("publish_ahead cannot be negative")
    now = utcnow()
    row = _new_row(keyring, site_id, now + publish_ahead, now)
    session.add(row)
    session.flush()
    return row


def retire_key(session: Session, site_id: str, kid: str) -> SigningKey:
    """Stop a key verifying (flushed, not committed). Refused for an unknown or retired key, and
    when no other active key of the site signs now (a site is never left without a signer)."""
    row = session.get(SigningKey, kid)
    if row is None or row.site_id != site_id:
        raise NotFound("unknown_signing_key", f"site {site_id!r} has no signing key {kid!r}")
    if row.retired_at is not None:
        raise Conflict("signing_key_retired", f"key {kid!r} was already retired")
    now = utcnow()
    others = [key for key in active_keys(session, site_id) if key.kid != kid and key.signs_from <= now]
    if not others:
        raise Conflict("last_signing_key", f"key {kid!r} is the only key of {site_id!r} that signs now; "
                       "rotate first (with --now to sign with the new key at once), then retire it")
    row.retired_at = now
    session.flush()
    return row


def rewrap_keys(session: Session, keyring: Keyring) -> int:
    """Wrap every private key under the newest KEK (after SECRET_KEYS gained a new first secret);
    the number re-wrapped. Committed."""
    count = 0
    for row in session.execute(sa.select(SigningKey)).scalars():
        if keyring.is_current(row.wrapped_private_key):
            continue
        context = _context(row.site_id, row.kid)
        row.wrapped_private_key = keyring.wrap(keyring.unwrap(row.wrapped_private_key, context), context)
        count += 1
    session.commit()
    return count


@dataclass(frozen=True)
class SiteKeys:
    """A site's keys as the request path uses them, loaded at once: the issuer (newest key that
    signs now), the verifier and public keys (every active key), and when that changes next."""

    site_id: str
    issuer: TokenIssuer
    public: PublicKeys
    #: When a published key starts signing (the issuer then changes), or None.
    next_change: datetime | None = None
    verifier: TokenVerifier = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "verifier", TokenVerifier(self.site_id, self.public))


def load_site_keys(session: Session, keyring: Keyring, site_id: str) -> SiteKeys:
    """Load a site's active keys, giving it its first key when it has none (committed then)."""
    rows = active_keys(session, site_id)
    if not rows:
        ensure_key(session, keyring, site_id)
        session.commit()
        rows = active_keys(session, site_id)
    now = utcnow()
    signing = [row for row in rows if row.signs_from <= now] or rows[:1]
    signer = signing[-1]
    pending = [row.signs_from for row in rows if row.signs_from > now]
    private = Ed25519PrivateKey.from_private_bytes(
        keyring.unwrap(signer.wrapped_private_key, _context(site_id, signer.kid)))
    return SiteKeys(site_id=site_id, issuer=TokenIssuer(site_id, signer.kid, private),
                    public=PublicKeys({row.kid: bytes(row.public_key) for row in rows}),
                    next_change=min(pending) if pending else None)


class SiteKeysCache(LastKnownCache[SiteKeys]):
    """SiteKeys by site, kept for a few seconds (the site cache's time), until a published key
    starts signing, or until a token names a key this process has not loaded yet (a rotation made
    elsewhere): then the site's keys are read again, at most once a second. While the database is
    unavailable the keys last read stand in."""

    def __init__(self, keyring: Keyring, ttl_seconds: float = 5.0) -> None:
        super().__init__(ttl_seconds)
        self.keyring = keyring
        self._reloaded: dict[str, float] = {}

    def lifetime(self, value: SiteKeys) -> float:
        if value.next_change is None:
            return self.ttl_seconds
        return min(self.ttl_seconds, max(0.0, (value.next_change - utcnow()).total_seconds()))

    def get(self, session: Session, site_id: str, token: object = None) -> SiteKeys:
        held = self.cached(site_id)
        fresh = False
        if held is not None and token is not None:
            kid = key_id(token)
            now = time.monotonic()
            if kid is not None and kid not in held.public and now - self._reloaded.get(site_id, 0.0) >= \
                    _RELOAD_INTERVAL:
                self._reloaded[site_id] = now
                fresh = True
        return self.read(session, site_id, lambda current: load_site_keys(current, self.keyring, site_id), fresh)
