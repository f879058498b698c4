"""AES-256-GCM for personal fields: the one place that encrypts and decrypts them.

A ciphertext is `nonce (12 bytes) ‖ ciphertext+tag`, bound to its record and field through the
associated data, so a ciphertext moved to another record or field does not decrypt."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_LENGTH = 12
KEY_LENGTH = 32


def new_key() -> bytes:
    return os.urandom(KEY_LENGTH)


def _aad(record_id: str, field: str) -> bytes:
    return f"{record_id}\x00{field}".encode()


class FieldCipher:
    """One key's cipher, reused across a visitor's fields (building AESGCM costs more than a field)."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(bytes(key))

    def encrypt(self, record_id: str, field: str, value: str) -> bytes:
        nonce = os.urandom(NONCE_LENGTH)
        return nonce + self._aead.encrypt(nonce, value.encode(), _aad(record_id, field))

    def decrypt(self, record_id: str, field: str, blob: bytes | memoryview | None) -> str | None:
        """The plaintext, or None when the field is empty or does not authenticate."""
        if not blob or len(blob) <= NONCE_LENGTH:
            return None
        blob = bytes(blob)
        try:
            return self._aead.decrypt(blob[:NONCE_LENGTH], blob[NONCE_LENGTH:], _aad(record_id, field)).decode()
        except (InvalidTag, UnicodeDecodeError):
            return None


def encrypt_field(key: bytes, record_id: str, field: str, value: str) -> bytes:
    return FieldCipher(key).encrypt(record_id, field, value)


def decrypt_field(key: bytes | None, record_id: str, field: str, blob: bytes | None) -> str | None:
    """The plaintext, or None when the field was empty, erased (no key) or does not authenticate."""
    return None if key is None else FieldCipher(key).decrypt(record_id, field, blob)
