"""RFC 6962 (Certificate Transparency) Merkle tree hashing: the root a seal signs over its records,
and the inclusion proof that shows one record is in a sealed tree with a few hashes instead of the
whole list. Pure functions over bytes, so an auditor can reimplement them from RFC 9162 §2.1.

- leaf hash  = SHA-256(0x00 ‖ leaf data)
- node hash  = SHA-256(0x01 ‖ left ‖ right)
- the tree over n leaves splits at k, the largest power of two below n; an odd leaf is carried up
  unpaired (never duplicated, so two different leaf lists cannot share a root);
- the empty tree's root is SHA-256 of nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_LENGTH = 32


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than size (size > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of leaf hashes, in order (bottom-up, level by level: no recursion, so
    a seal of any size costs one pass per level)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])  # carried up unpaired, as RFC 6962's split does
        level = paired
    return level[0]


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf `index` (RFC 6962 §2.1.1 PATH), nearest sibling first."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} is not in a tree of {len(leaves)}")
    path: list[bytes] = []
    low, high = 0, len(leaves)
    # Walk down from the root, keeping the sibling subtree's hash at each split.
    while high - low > 1:
        k = _split(high - low)
        if index < low + k:
            path.append(root(leaves[low + k:high]))
            high = low + k
        else:
            path.append(root(leaves[low:low + k]))
            low += k
    path.reverse()
    return path


def root_from_proof(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """The root a leaf and its audit path lead to (RFC 9162 §2.1.3.2), or None when the path
    cannot belong to a tree of `size` (wrong length, index out of range)."""
    if not 0 <= index < size or any(len(node) != HASH_LENGTH for node in path):
        return None
    fn, sn = index, size - 1
    result = leaf
    for node in path:
        if sn == 0:
            return None
        if fn % 2 == 1 or fn == sn:
            result = node_hash(node, result)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            result = node_hash(result, node)
        fn >>= 1
        sn >>= 1
    return result if sn == 0 else None


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], expected_root: bytes) -> bool:
    found = root_from_proof(index, size, leaf, path)
    return found is not None and found == expected_root
