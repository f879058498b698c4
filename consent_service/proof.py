"""What makes a consent record proof: desensitized IP addresses, encrypted personal fields and
record digests.

- An IP address is truncated (IPv4 to /24, IPv6 to /48) and then hashed with HMAC-SHA256 under a
  server-side pepper: the raw address never reaches storage or logs.
- Personal fields (user agent, page URL) are encrypted with AES-256-GCM under a key of the visitor's
  own, kept in a separate table; deleting that key erases them everywhere, backups of the records
  table included.
- A record's digest covers every proof field; personal fields enter as HMACs under the visitor key,
  so after erasure the digest still verifies while the HMACs no longer link to any plaintext.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .sites import canonical_json

PERSONAL_FIELDS = ("page_url", "user_agent")
_IPV4_MAPPED_PREFIX = bytes(10) + b"\xff\xff"
#: Fields a record digest commits to, in the order they are documented.
DIGEST_FIELDS = (
    "id", "site_id", "visitor_id", "policy_version", "policy_hash", "choices", "method", "created_at",
    "expires_at", "language", "page_url_digest", "user_agent_digest", "ip_hash", "gpc",
    "banner_version", "client_record_id",
)


def truncate_ip(address: str) -> str | None:
    """The network an address belongs to (/24 for IPv4, /48 for IPv6, an IPv4-mapped IPv6 address
    as IPv4), or None if it is not an address. Runs on every write, so it parses with the C
    socket functions rather than the ipaddress module, which costs ten times more."""
    text = address.strip().split("%", 1)[0]  # an IPv6 zone id says nothing about the network
    for family, kept_bytes in ((socket.AF_INET, 3), (socket.AF_INET6, 6)):
        try:
            packed = socket.inet_pton(family, text)
        except (OSError, ValueError):  # not this family, or a NUL byte
            continue
        if packed[:12] == _IPV4_MAPPED_PREFIX:
            family, packed, kept_bytes = socket.AF_INET, packed[12:], 3
        network = packed[:kept_bytes] + bytes(len(packed) - kept_bytes)
        return f"{socket.inet_ntop(family, network)}/{kept_bytes * 8}"
    return None


def desensitize_ip(address: str | None, pepper: str) -> str | None:
    """Truncate, then keyed SHA-256: what is stored and used as the rate-limit key."""
    network = truncate_ip(address) if address else None
    if network is None:
        return None
    return hmac.new(pepper.encode(), network.encode(), hashlib.sha256).hexdigest()


def new_visitor_key() -> bytes:
    return os.urandom(32)


def _aad(record_id: str, field: str) -> bytes:
    return f"{record_id}\x00{field}".encode()


def encrypt_field(key: bytes, record_id: str, field: str, value: str) -> bytes:
    """AES-256-GCM, bound to the record and field so a ciphertext cannot be moved elsewhere."""
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, value.encode(), _aad(record_id, field))


def decrypt_field(key: bytes | None, record_id: str, field: str, blob: bytes | None) -> str | None:
    """The plaintext, or None when the field was empty, erased (no key) or does not authenticate."""
    if key is None or not blob or len(blob) < 13:
        return None
    try:
        return AESGCM(key).decrypt(bytes(blob[:12]), bytes(blob[12:]), _aad(record_id, field)).decode()
    except (InvalidTag, UnicodeDecodeError):
        return None


def field_digest(key: bytes, field: str, value: str) -> str:
    """HMAC of a personal field under the visitor key: verifiable while the key exists, then inert."""
    return hmac.new(key, field.encode() + b"\x00" + value.encode(), hashlib.sha256).hexdigest()


def _digest_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds").replace("+00:00", "Z")
    return value


def record_digest(record: Mapping[str, Any] | Any) -> str:
    """SHA-256 over the canonical JSON of a record's proof fields (a mapping or a model row)."""
    get = record.get if isinstance(record, Mapping) else lambda name: getattr(record, name)
    return hashlib.sha256(canonical_json({name: _digest_value(get(name)) for name in DIGEST_FIELDS})).hexdigest()
