"""The one serialization that hashes are taken over: JSON with sorted keys, no spaces, UTF-8.
Policy versions, record digests and seals all hash this form, so an auditor can recompute them
with any JSON library that sorts keys."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_hash(value: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of a value."""
    return hashlib.sha256(canonical_json(value)).hexdigest()
