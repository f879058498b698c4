"""What makes a consent record proof: desensitized IP addresses, personal fields under the
visitor's own key, and record digests.

- An IP address is truncated (IPv4 to /24, IPv6 to /48, an IPv6 address carrying an IPv4 one to
  that IPv4 address's /24) and then hashed with HMAC-SHA256 under a
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
from .fields import DIGEST_FIELDS, DIGEST_WHEN_SET, PERSONAL_FIELDS

_IPV4_MAPPED_PREFIX = bytes(10) + b"\xff\xff"
_NAT64_PREFIX = b"\x00\x64\xff\x9b" + bytes(8)  # 64:ff9b::/96 (RFC 6052)
_NAT64_LOCAL_PREFIX = b"\x00\x64\xff\x9b\x00\x01"  # 64:ff9b:1::/48 (RFC 8215), IPv4 around the u octet
_SIX_TO_FOUR = b"\x20\x02"  # 2002::/16: the IPv4 address follows
_TEREDO = b"\x20\x01\x00\x00"  # 2001::/32: the client's IPv4 address, inverted, at the end


def _embedded_ipv4(packed: bytes) -> bytes | None:
    """The IPv4 address an IPv6 address carries for a client that has one: IPv4-mapped, NAT64,
    IPv4-compatible (`::a.b.c.d`), 6to4 or Teredo. Every client behind one NAT64 gateway or Teredo
    server shares a /48, so these are bucketed by the IPv4 network instead."""
    head = packed[:12]
    if head == _IPV4_MAPPED_PREFIX or head == _NAT64_PREFIX:
        return packed[12:]
    if head == bytes(12) and packed[12] != 0:  # ::a.b.c.d, but not :: or ::1
        return packed[12:]
    if packed[:6] == _NAT64_LOCAL_PREFIX:
        return packed[6:8] + packed[9:11]
    if packed[:2] == _SIX_TO_FOUR:
        return packed[2:6]
    if packed[:4] == _TEREDO:
        return bytes(byte ^ 0xFF for byte in packed[12:])
    return None


def truncate_ip(address: str) -> str | None:
    """The network an address belongs to (/24 for IPv4, /48 for IPv6, an IPv6 address that carries
    an IPv4 one as that IPv4 address's /24), or None if it is not an address. Runs on every write,
    so it parses with the C socket functions rather than the ipaddress module, which costs ten
    times more."""
    text = address.strip().split("%", 1)[0]  # an IPv6 zone id says nothing about the network
    for family, kept_bytes in ((socket.AF_INET, 3), (socket.AF_INET6, 6)):
        try:
            packed = socket.inet_pton(family, text)
        except (OSError, ValueError):  # not this family, or a NUL byte
            continue
        if family == socket.AF_INET6 and (embedded := _embedded_ipv4(packed)) is not None:
            family, packed, kept_bytes = socket.AF_INET, embedded, 3
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
    """SHA-256 over the canonical JSON of a record's digest fields (a mapping or a model row); a
    field added later enters it only when set, so older records keep their digests."""
    get = record.get if isinstance(record, Mapping) else lambda name: getattr(record, name)
    values = {name: _digest_value(get(name)) for name in DIGEST_FIELDS}
    return canonical_hash({name: value for name, value in values.items()
                           if value is not None or name not in DIGEST_WHEN_SET})


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
