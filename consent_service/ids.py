"""Time-sortable identifiers (ULID layout): 48 bits of milliseconds, then 80 random bits, in
Crockford base32, so record ids sort by creation time as strings and in indexes.

Visitor ids and record ids have this form; everything that checks, parses or makes one uses this
module."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 26
#: A whole identifier, as the API validates visitor ids and the exports validate filters.
PATTERN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_TIME_CHARS = 10


def _encode(value: int) -> str:
    chars = []
    for _ in range(LENGTH):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(now: float | None = None) -> str:
    """A 26-character identifier that sorts after every id made in an earlier millisecond."""
    millis = int((time.time() if now is None else now) * 1000)
    return _encode((millis << 80) | int.from_bytes(os.urandom(10), "big"))


def id_time_floor(timestamp: float) -> str:
    """The smallest id that could have been made at `timestamp`: for range queries on ids."""
    return _encode(int(timestamp * 1000) << 80)


def is_id(value: object) -> bool:
    return isinstance(value, str) and PATTERN.match(value) is not None


def id_time(identifier: str) -> datetime | None:
    """When an id was made (its first 10 characters are milliseconds since the epoch), or None."""
    value = 0
    for char in identifier[:_TIME_CHARS]:
        index = ALPHABET.find(char)
        if index < 0:
            return None
        value = value * 32 + index
    return datetime.fromtimestamp(value / 1000, UTC)
