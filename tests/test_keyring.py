"""Key wrapping under KEKs from the service's secrets: rotation, binding to the row, tampering."""

from __future__ import annotations

import pytest

from consent_service.keyring import Keyring, KeyUnavailable

KEY = bytes(range(32))


def test_the_newest_wraps_and_every_listed_secret_unwraps():
    old = Keyring(["old-secret-0123456789abcdef0123456789"])
    wrapped = old.wrap(KEY, b"visitor-key\x00A")
    rotated = Keyring(["new-secret-0123456789abcdef0123456789", "old-secret-0123456789abcdef0123456789"])
    assert rotated.unwrap(wrapped, b"visitor-key\x00A") == KEY
    assert not rotated.is_current(wrapped) and rotated.is_current(rotated.wrap(KEY, b"x"))
    with pytest.raises(KeyUnavailable):
        Keyring(["new-secret-0123456789abcdef0123456789"]).unwrap(wrapped, b"visitor-key\x00A")


def test_a_wrapped_key_opens_only_for_its_own_row_and_unchanged():
    ring = Keyring(["a-secret-0123456789abcdef0123456789ab"])
    wrapped = ring.wrap(KEY, b"visitor-key\x00A")
    assert KEY not in wrapped
    for context, blob in ((b"visitor-key\x00B", wrapped), (b"visitor-key\x00A", wrapped[:-1] + b"\x00"),
                          (b"visitor-key\x00A", KEY), (b"visitor-key\x00A", b"")):
        with pytest.raises(KeyUnavailable):
            ring.unwrap(blob, context)
