"""The keys that sign seals and purge markers: Ed25519, never stored in the database.

Someone who can write to the database but holds none of the service's secrets cannot make a seal
verify, so they cannot rewrite, insert, delete or "purge" anything sealed. Each private key is
derived with HKDF-SHA256 (a label of its own) from one entry of `SEAL_KEYS` (or, when that is not
set, of `SECRET_KEYS`), newest first: the newest signs, every listed one still verifies, and
retired public keys can be kept in a JWKS file (`SEAL_VERIFY_KEYS_FILE`) after their secret is
dropped. Verification needs only public keys, published as a JWKS (RFC 7517/8037) whose key ids
are RFC 7638 thumbprints, so an auditor checks seals and receipts without any secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_LABEL = b"consent-service seal signing key"
SIGNATURE_HEX_LENGTH = 128


class SealKeyError(ValueError):
    """A key set that cannot be used (no key, or a JWKS that is not Ed25519 public keys)."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64url(data) != text:
        raise ValueError("not canonical base64url")
    return data


def _raw(public: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """The RFC 7638 thumbprint of the public key: anyone can recompute it from the JWK."""
    members = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw(public))},
                         separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(members.encode()).digest())


def derive_private_key(secret: str) -> Ed25519PrivateKey:
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(secret.encode())
    return Ed25519PrivateKey.from_private_bytes(seed)


class SealVerifier:
    """Public seal keys by key id: all that verification and receipt checks need."""

    def __init__(self, public_keys: Iterable[Ed25519PublicKey]) -> None:
        self.keys: dict[str, Ed25519PublicKey] = {}
        for public in public_keys:
            self.keys.setdefault(key_id(public), public)

    def verify(self, kid: str | None, message: bytes, signature_hex: str | None) -> bool:
        public = self.keys.get(kid or "")
        if public is None or not isinstance(signature_hex, str) or len(signature_hex) != SIGNATURE_HEX_LENGTH:
            return False
        if signature_hex != signature_hex.lower():
            return False
        try:
            public.verify(bytes.fromhex(signature_hex), message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": _b64url(_raw(public)), "kid": kid,
                          "alg": "EdDSA", "use": "sig"} for kid, public in self.keys.items()]}

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any] | Any) -> SealVerifier:
        """Public keys from a JWKS document; anything else is a SealKeyError."""
        keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
        if not isinstance(keys, list) or not keys:
            raise SealKeyError("a JWKS needs a non-empty 'keys' list")
        publics = []
        for index, jwk in enumerate(keys):
            if not isinstance(jwk, Mapping) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
                raise SealKeyError(f"keys[{index}] is not an Ed25519 public key (kty OKP, crv Ed25519)")
            if "d" in jwk:
                raise SealKeyError(f"keys[{index}] holds a private key: publish public keys only")
            try:
                public = Ed25519PublicKey.from_public_bytes(_unb64url(str(jwk.get("x", ""))))
            except ValueError:
                raise SealKeyError(f"keys[{index}].x is not a 32-byte base64url key") from None
            if "kid" in jwk and jwk["kid"] != key_id(public):
                raise SealKeyError(f"keys[{index}].kid is not the key's RFC 7638 thumbprint")
            publics.append(public)
        return cls(publics)


class SealSigner:
    """The service's seal keys, newest first: the newest signs, all of them (and any retired
    public keys given) verify."""

    def __init__(self, secrets: Iterable[str], retired: SealVerifier | None = None) -> None:
        self._private = [derive_private_key(secret) for secret in secrets if secret]
        if not self._private:
            raise SealKeyError("at least one secret is needed to sign seals")
        self.kid = key_id(self._private[0].public_key())
        publics = [key.public_key() for key in self._private]
        if retired is not None:
            publics += list(retired.keys.values())
        self.verifier = SealVerifier(publics)

    def sign(self, message: bytes) -> tuple[str, str]:
        """(key id, signature as lowercase hex) of the newest key over the message."""
        return self.kid, self._private[0].sign(message).hex()
