"""Key wrapping: every secret key the database holds (a site's token-signing key, a visitor's
field key) is stored encrypted under a key-encryption key (KEK) that comes from the environment,
so a database file, a dump or a backup alone decrypts nothing.

The KEKs are derived from the service's `SECRET_KEYS` (newest first) with HKDF-SHA256 and a label
of their own, so they are not the secrets themselves and no other use of a secret can produce
them. The newest wraps; every listed one unwraps, found by the short id stored in front of each
wrapped key. Rotate by prepending a secret, re-wrap (`consent-service keys rewrap`), then drop
the old secret.

A wrapped key is `b"w1" ‖ kek id (4 bytes) ‖ nonce (12) ‖ AES-256-GCM(key, associated data)`; the
associated data names what the key is for (for example `b"visitor-key\\0<visitor id>"`), so a
wrapped key copied to another row does not unwrap there.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"w1"
_ID_LENGTH = 4
_NONCE_LENGTH = 12
_LABEL = b"consent-service key-encryption key"


class KeyUnavailable(Exception):
    """A wrapped key that no configured KEK opens (a secret was dropped too early, or the bytes
    were changed)."""


def _derive(secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(secret.encode())


class Keyring:
    """The service's KEKs, newest first."""

    def __init__(self, secrets: Iterable[str]) -> None:
        keys = [_derive(secret) for secret in secrets if secret]
        if not keys:
            raise ValueError("at least one secret is needed to wrap keys")
        self._keks = [(hashlib.sha256(key).digest()[:_ID_LENGTH], AESGCM(key)) for key in keys]

    @property
    def newest_id(self) -> bytes:
        return self._keks[0][0]

    def wrap(self, key: bytes, context: bytes) -> bytes:
        kek_id, aead = self._keks[0]
        nonce = os.urandom(_NONCE_LENGTH)
        return VERSION + kek_id + nonce + aead.encrypt(nonce, bytes(key), context)

    def unwrap(self, wrapped: bytes | memoryview, context: bytes) -> bytes:
        wrapped = bytes(wrapped)
        head = len(VERSION) + _ID_LENGTH
        if wrapped[:len(VERSION)] != VERSION or len(wrapped) <= head + _NONCE_LENGTH:
            raise KeyUnavailable("not a wrapped key")
        kek_id, nonce = wrapped[len(VERSION):head], wrapped[head:head + _NONCE_LENGTH]
        sealed = wrapped[head + _NONCE_LENGTH:]
        for known_id, aead in self._keks:
            if known_id == kek_id:
                try:
                    return aead.decrypt(nonce, sealed, context)
                except InvalidTag:
                    break
        raise KeyUnavailable("no configured secret opens this wrapped key")

    def is_current(self, wrapped: bytes | memoryview) -> bool:
        """Wrapped under the newest KEK (else `keys rewrap` has work to do)."""
        return bytes(wrapped)[len(VERSION):len(VERSION) + _ID_LENGTH] == self.newest_id
