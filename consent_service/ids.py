"""Time-sortable identifiers (ULID layout): 48 bits of milliseconds, then 80 random bits, in
Crockford base32, so record ids sort by creation time as strings and in indexes."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _encode(value: int) -> str:
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(now: float | None = None) -> str:
    """A 26-character identifier that sorts after every id made in an earlier millisecond."""
    millis = int((time.time() if now is None else now) * 1000)
    return _encode((millis << 80) | int.from_bytes(os.urandom(10), "big"))


def id_time_floor(timestamp: float) -> str:
    """The smallest id that could have been made at `timestamp`: for range queries on ids."""
    return _encode(int(timestamp * 1000) << 80)
