"""Signed preference tokens: what the banner stores in the `consent` cookie and a shop's backend
verifies locally, without calling the service.

Each site signs with its own key, derived from the service's secret list with the site id as salt, so
one site's key cannot forge another site's token. The newest secret signs; every listed secret
verifies, so secrets rotate by prepending a new one and later dropping the old.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

from itsdangerous import BadSignature, URLSafeSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.serializer import Serializer

from .decision import NECESSARY_ONLY, ConsentDecision
from .times import from_timestamp

INVALID = ConsentDecision("invalid")


def site_key(secret: str, site_id: str) -> bytes:
    """The per-site signing key: HMAC-SHA256 of the site id under one service secret."""
    return hmac.new(secret.encode(), b"consent-token\x00" + site_id.encode(), hashlib.sha256).digest()


class _UncompressedSerializer(URLSafeSerializer):
    """URL-safe JSON without zlib, so the banner can read its own token's payload (base64url JSON)."""

    def dump_payload(self, obj: object) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


class TokenSigner:
    """Issues and verifies tokens for one site. Cheap to keep; build one per site and reuse it."""

    def __init__(self, site_id: str, secrets: Iterable[str]) -> None:
        secrets = [s for s in secrets if s]
        if not secrets:
            raise ValueError("at least one secret is needed to sign tokens")
        self.site_id = site_id
        # itsdangerous wants oldest first and signs with the last one.
        keys = [site_key(secret, site_id) for secret in reversed(secrets)]
        self._serializer = _UncompressedSerializer(
            keys, salt=None, signer_kwargs={"key_derivation": "none", "digest_method": hashlib.sha256},
        )
        # The serializer would build a new Signer for every call; this one holds the same keys.
        self._signer = self._serializer.make_signer()

    def issue(self, *, visitor_id: str, policy_version: int, granted: Iterable[str], record_id: str,
              expires_at: int) -> str:
        """Sign a token. It carries no personal data: ids, version, granted categories, expiry."""
        payload = {
            "s": self.site_id, "v": visitor_id, "p": policy_version,
            "g": sorted(granted), "r": record_id, "x": int(expires_at),
        }
        return self._signer.sign(self._serializer.dump_payload(payload)).decode("ascii")

    def verify(self, token: object, current_policy_version: int | None = None,
               now: float | None = None) -> ConsentDecision:
        """Check signature, site, expiry and policy version; never raises on bad input."""
        if not isinstance(token, str) or not token or len(token) > 4096:
            return INVALID
        try:
            payload = self._serializer.load_payload(self._signer.unsign(token))
        except (BadSignature, ValueError, TypeError):
            return INVALID
        if not isinstance(payload, dict) or payload.get("s") != self.site_id:
            return INVALID
        try:
            expires_at = int(payload["x"])
            fields = dict(
                visitor_id=str(payload["v"]), policy_version=int(payload["p"]),
                record_id=str(payload["r"]), expires_at=from_timestamp(expires_at),
            )
            granted = frozenset(str(category) for category in payload["g"]) | NECESSARY_ONLY
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            return INVALID
        if expires_at <= (time.time() if now is None else now):
            return ConsentDecision("expired", **fields)
        if current_policy_version is not None and fields["policy_version"] != current_policy_version:
            return ConsentDecision("outdated", **fields)
        return ConsentDecision("valid", granted=granted, **fields)


def verify_token(token: object, site_id: str, secrets: Iterable[str],
                 current_policy_version: int | None = None) -> ConsentDecision:
    """Verify a preference token for a site (convenience wrapper; reuse a TokenSigner when hot)."""
    return TokenSigner(site_id, secrets).verify(token, current_policy_version)
