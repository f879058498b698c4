"""What makes a consent record proof: desensitized IP addresses, personal fields under the
visitor's own key, and record digests.

- An IP address is truncated (IPv4 to /24, IPv6 to /48) and then hashed with HMAC-SHA256 under a
  server-side pepper: the raw address never reaches storage or logs.
- Personal fields (user agent, page URL) are encrypted with AES-256-GCM (crypto.py) under a key of
  the visitor's own, kept in a separate table; deleting that key erases them.
- A record's digest covers every field marked `digest` in fields.py; personal fields enter as
  HMACs under the visitor key, so after erasure the digest still verifies while the HMACs no
  longer link to any plaintext.
- A record's Merkle leaf (what a seal signs) adds what the database assigned (its sequence) and
  the SHA-256 of each personal field's ciphertext, so a ciphertext nulled, swapped or replaced
  is caught while an erasure (the key destroyed, the ciphertext kept) is not a change at all.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..canonical import canonical_hash, canonical_json
from ..crypto import FieldCipher
from ..times import iso
from .fields import DIGEST_FIELDS, PERSONAL_FIELDS

_IPV4_MAPPED_PREFIX = bytes(10) + b"\xff\xff"


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


def field_digest(key: bytes, field: str, value: str) -> str:
    """HMAC of a personal field under the visitor key: verifiable while the key exists, then inert."""
    return hmac.new(key, field.encode() + b"\x00" + value.encode(), hashlib.sha256).hexdigest()


def _digest_value(value: Any) -> Any:
    return iso(value, precise=True) if isinstance(value, datetime) else value


def record_digest(record: Mapping[str, Any] | Any) -> str:
    """SHA-256 over the canonical JSON of a record's digest fields (a mapping or a model row)."""
    get = record.get if isinstance(record, Mapping) else lambda name: getattr(record, name)
    return canonical_hash({name: _digest_value(get(name)) for name in DIGEST_FIELDS})


def ciphertext_hash(blob: bytes | memoryview | None) -> str | None:
    return hashlib.sha256(bytes(blob)).hexdigest() if blob else None


def leaf_statement(record: Mapping[str, Any] | Any) -> dict[str, Any]:
    """What a seal's Merkle leaf commits to for one stored record (a mapping or a model row)."""
    get = record.get if isinstance(record, Mapping) else lambda name: getattr(record, name)
    return {"seq": get("seq"), "id": get("id"), "digest": get("digest"),
            "ciphertexts": {name: ciphertext_hash(get(name)) for name in PERSONAL_FIELDS}}


def leaf_data(statement: Mapping[str, Any]) -> bytes:
    """The bytes the RFC 6962 leaf hash is taken over: the statement's canonical JSON."""
    return canonical_json(dict(statement))


def protect_record(row: dict[str, Any], key: bytes, personal: Mapping[str, str | None]) -> dict[str, Any]:
    """Complete a new record's row: its personal fields encrypted under the visitor's key, their
    HMACs, and the record digest over the finished row."""
    cipher = FieldCipher(key)
    for name in PERSONAL_FIELDS:
        value = personal.get(name)
        row[name] = cipher.encrypt(row["id"], name, value) if value else None
        row[f"{name}_digest"] = field_digest(key, name, value) if value else None
    row["digest"] = record_digest(row)
    return row
