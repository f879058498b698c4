"""Preference tokens: what the banner stores in the `consent` cookie and anyone can check, and
only the service can mint.

A token is a compact JWS (RFC 7515) over a JWT claim set (RFC 7519), signed with EdDSA over
Ed25519 (RFC 8037). Each site has its own key pairs; the header names the key (`kid`), the site's
newest key signs and its older keys verify until they are retired. The public halves are published
as a JWKS (RFC 7517), so the banner, a shop's backend in any language and an auditor check a token
with the site's public keys alone; the private halves never leave the service.

The claims are standard where a standard one fits (`sub` the visitor, `aud` the site, `iat`,
`exp`) and short where none does (`pv` the regime's policy version, `g` granted categories, `rid`
record id, `rg` the regime whose rules the choice was made under; a token without `rg`, from before
regimes, was made under opt-in):
the token is a cookie sent with every request to the shop. `ConsentClaims` is the one place the
claim set is written down.

Pure: PyJWT and cryptography only. The service's key store (sites/signing_keys.py) and the shop
side's key sources (shop/keys.py) hand the keys in.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .decision import NECESSARY_ONLY, ConsentDecision
from .times import from_timestamp

ALGORITHM = "EdDSA"
#: Tokens longer than this are refused before any parsing (real ones are about 330 characters).
MAX_TOKEN_LENGTH = 4096
INVALID = ConsentDecision("invalid")
_KEY_ID_LENGTH = 64
#: The compact serialization, strictly: three unpadded base64url parts (a padded or otherwise
#: re-encoded copy of a token is not the token).
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", re.ASCII)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict unpadded base64url (RFC 7515 §2): ValueError on anything else."""
    if not isinstance(text, str) or "=" in text:
        raise ValueError("not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


@dataclass(frozen=True)
class ConsentClaims:
    """What a token says. The wire names are in `to_payload`/`from_payload`; add a claim here (and
    there) and every issuer and verifier carries it."""

    visitor_id: str
    site_id: str
    policy_version: int
    granted: frozenset[str]
    record_id: str
    issued_at: int
    expires_at: int
    regime: str | None = None

    def to_payload(self) -> dict[str, Any]:
        payload = {"sub": self.visitor_id, "aud": self.site_id, "iat": self.issued_at, "exp": self.expires_at,
                   "pv": self.policy_version, "g": sorted(self.granted), "rid": self.record_id}
        if self.regime is not None:
            payload["rg"] = self.regime
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ConsentClaims:
        """ValueError unless every claim is there with its type (strings, whole numbers, a list of
        strings; booleans are not numbers)."""
        def whole(name: str) -> int:
            value = payload.get(name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name} must be a whole number")
            return value

        def text(name: str) -> str:
            value = payload.get(name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a string")
            return value

        granted = payload.get("g")
        if not isinstance(granted, list) or not all(isinstance(c, str) for c in granted):
            raise ValueError("g must be a list of category ids")
        return cls(visitor_id=text("sub"), site_id=text("aud"), policy_version=whole("pv"),
                   granted=frozenset(granted) | NECESSARY_ONLY, record_id=text("rid"),
                   issued_at=whole("iat"), expires_at=whole("exp"),
                   regime=text("rg") if "rg" in payload else None)

    def decision(self, current_policy_version: int | None, now: float) -> ConsentDecision:
        """The standing these claims give now, under the site's current policy version (None: any)."""
        fields = dict(visitor_id=self.visitor_id, policy_version=self.policy_version, record_id=self.record_id,
                      expires_at=from_timestamp(self.expires_at), regime=self.regime)
        if self.expires_at <= now:
            return ConsentDecision("expired", **fields)
        if current_policy_version is not None and self.policy_version != current_policy_version:
            return ConsentDecision("outdated", **fields)
        return ConsentDecision("valid", granted=self.granted, **fields)


# -- keys ----------------------------------------------------------------------------------------


def new_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_jwk(kid: str, public_key: Ed25519PublicKey | bytes) -> dict[str, str]:
    """The JWK of one public key (RFC 8037 §2: OKP, Ed25519, `x` the raw key in base64url)."""
    raw = public_key if isinstance(public_key, bytes) else raw_public_key(public_key)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw), "kid": kid, "use": "sig", "alg": ALGORITHM}


class PublicKeys(Mapping[str, Ed25519PublicKey]):
    """A site's verifying keys by key id: what a JWKS holds, as verification needs it."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey | bytes]) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        for kid, key in keys.items():
            if not isinstance(kid, str) or not 0 < len(kid) <= _KEY_ID_LENGTH:
                raise ValueError("a key id is a string of 1 to 64 characters")
            self._keys[kid] = Ed25519PublicKey.from_public_bytes(key) if isinstance(key, bytes) else key

    def __getitem__(self, kid: str) -> Ed25519PublicKey:
        return self._keys[kid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKeys) and self.inline() == other.inline()

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def from_jwks(cls, document: Any) -> PublicKeys:
        """From a JWKS document (a dict with `keys`, as served at `/v1/sites/<site>/jwks.json`).

        Ed25519 signature keys with a key id are taken, through PyJWT's JWK parser; other keys in the
        set (another algorithm, encryption keys) are left out. ValueError when the document is not a
        JWKS, an Ed25519 entry is malformed, or no usable key remains."""
        if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
            raise ValueError("not a JWKS: expected an object with a 'keys' list")
        keys: dict[str, Ed25519PublicKey] = {}
        for entry in document["keys"]:
            if not isinstance(entry, Mapping) or entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
                continue
            if entry.get("use", "sig") != "sig" or entry.get("alg", ALGORITHM) != ALGORITHM:
                continue
            kid = entry.get("kid")
            if not isinstance(kid, str) or not kid:
                raise ValueError("every Ed25519 key of the set needs a kid")
            if "d" in entry:
                raise ValueError(f"key {kid!r} holds a private key: publish public keys only")
            try:
                key = jwt.PyJWK(dict(entry), algorithm=ALGORITHM).key
            except (jwt.PyJWTError, ValueError, TypeError) as error:
                raise ValueError(f"key {kid!r}: {error}") from None
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError(f"key {kid!r} is not an Ed25519 public key")
            keys[kid] = key
        if not keys:
            raise ValueError("the JWKS holds no Ed25519 signature key")
        return cls(keys)

    @classmethod
    def from_inline(cls, inline: Mapping[str, str]) -> PublicKeys:
        """From the banner's compact form, key id -> `x`."""
        return cls({kid: b64url_decode(x) for kid, x in inline.items()})

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [public_jwk(kid, key) for kid, key in self._keys.items()]}

    def inline(self) -> dict[str, str]:
        """Key id -> `x`: all the banner needs to verify (it knows the rest of the JWK)."""
        return {kid: b64url(raw_public_key(key)) for kid, key in self._keys.items()}


# -- issuing and verifying -------------------------------------------------------------------------


class TokenIssuer:
    """Signs a site's tokens with one private key (the site's newest). The service only."""

    def __init__(self, site_id: str, kid: str, private_key: Ed25519PrivateKey) -> None:
        self.site_id = site_id
        self.kid = kid
        self._key = private_key
        self._headers = {"kid": kid, "typ": None}  # no "typ": every byte is sent with every request

    def issue(self, *, visitor_id: str, policy_version: int, granted: Iterable[str], record_id: str,
              expires_at: int | float, issued_at: int | float | None = None, regime: str | None = None) -> str:
        """A signed token. It carries no personal data: ids, version, granted categories, times, regime."""
        claims = ConsentClaims(
            visitor_id=visitor_id, site_id=self.site_id, policy_version=int(policy_version),
            granted=frozenset(granted), record_id=record_id, expires_at=int(expires_at),
            issued_at=int(time.time() if issued_at is None else issued_at), regime=regime)
        return jwt.encode(claims.to_payload(), self._key, algorithm=ALGORITHM, headers=self._headers)


def key_id(token: object) -> str | None:
    """The key id a token's header names, unverified (None when there is none to read). Read here
    rather than with PyJWT's `get_unverified_header`, which decodes all three parts of the token
    and then `decode` does it again."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or not _COMPACT.fullmatch(token):
        return None
    try:
        header = json.loads(b64url_decode(token[:token.index(".")]))
    except ValueError:
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


_REQUIRED = ["sub", "aud", "iat", "exp", "pv", "g", "rid"]
_DECODE_OPTIONS: Any = {"verify_exp": False, "verify_iat": False, "verify_nbf": True, "require": _REQUIRED}


class TokenVerifier:
    """Checks a site's tokens against its public keys: signature (EdDSA only), key id, audience,
    every claim, expiry and policy version. Never raises on bad input.

    The signature check is the costly part (an Ed25519 verify, a few times an HMAC's), so the claims
    of the last `memo_size` tokens seen are remembered by token string; expiry and policy version are
    still judged on every call. A verifier belongs to one set of keys: new keys, new verifier."""

    def __init__(self, site_id: str, keys: PublicKeys, memo_size: int = 4096) -> None:
        self.site_id = site_id
        self.keys = keys
        self.memo_size = memo_size
        self._memo: dict[str, ConsentClaims | None] = {}

    def claims(self, token: object) -> ConsentClaims | None:
        """The claims of a token whose signature and audience hold, else None (expiry unchecked)."""
        if isinstance(token, str) and token in self._memo:
            return self._memo[token]
        kid = key_id(token)
        key = self.keys.get(kid) if kid is not None else None
        if key is None:
            return None
        try:
            payload = jwt.decode(token, key, algorithms=[ALGORITHM], audience=self.site_id,  # type: ignore[arg-type]
                                 options=_DECODE_OPTIONS)
            claims: ConsentClaims | None = ConsentClaims.from_payload(payload)
        except (jwt.InvalidTokenError, ValueError, TypeError):
            claims = None
        if len(self._memo) >= self.memo_size:
            self._memo.clear()
        self._memo[token] = claims  # type: ignore[index]
        return claims

    def verify(self, token: object, current_policy_version: int | None = None,
               now: float | None = None) -> ConsentDecision:
        claims = self.claims(token)
        if claims is None:
            return INVALID
        return claims.decision(current_policy_version, time.time() if now is None else now)

