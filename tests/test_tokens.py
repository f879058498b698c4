"""Preference tokens: per-site keys, rotation, expiry, policy versions, and tampering."""

from __future__ import annotations

import base64
import json
import time

from consent_service.tokens import TokenSigner, verify_token

NEW, OLD = "secret-new-0123456789abcdef0123456789", "secret-old-0123456789abcdef0123456789"


def issue(signer, **changes):
    fields = dict(visitor_id="01JVISITOR0000000000000000", policy_version=3,
                  granted=["necessary", "analytics"], record_id="01JRECORD00000000000000000",
                  expires_at=int(time.time()) + 3600)
    fields.update(changes)
    return signer.issue(**fields)


def test_valid_token_carries_no_personal_data():
    token = issue(TokenSigner("demo", [NEW]))
    check = verify_token(token, "demo", [NEW], current_policy_version=3)
    assert check.status == "valid" and check.granted == {"necessary", "analytics"}
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert set(payload) == {"s", "v", "p", "g", "r", "x"}


def test_rotation_old_keys_verify_removed_keys_do_not():
    old_token = issue(TokenSigner("demo", [OLD]))
    assert TokenSigner("demo", [NEW, OLD]).verify(old_token).status == "valid"
    assert TokenSigner("demo", [NEW]).verify(old_token).status == "invalid"
    new_token = issue(TokenSigner("demo", [NEW, OLD]))
    assert TokenSigner("demo", [NEW]).verify(new_token).status == "valid"
    assert TokenSigner("demo", [OLD]).verify(new_token).status == "invalid"


def test_one_sites_key_cannot_forge_anothers():
    token = issue(TokenSigner("shop-a", [NEW]))
    assert TokenSigner("shop-b", [NEW]).verify(token).status == "invalid"
    # Even with the payload rewritten to name the other site, the signature does not match.
    payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=="))
    data["s"] = "shop-b"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=") + "." + signature
    assert TokenSigner("shop-b", [NEW]).verify(forged).status == "invalid"


def test_expired_and_outdated():
    signer = TokenSigner("demo", [NEW])
    assert signer.verify(issue(signer, expires_at=int(time.time()) - 1)).status == "expired"
    outdated = signer.verify(issue(signer), current_policy_version=4)
    assert outdated.status == "outdated" and outdated.granted == frozenset({"necessary"})


def test_garbage_never_raises():
    signer = TokenSigner("demo", [NEW])
    token = issue(signer)
    for bad in (None, 5, "", "x" * 5000, token[:-2] + "AA", token + "x", "." + token, "a.b.c", "\x00\xff",
                [token], token.replace(".", "")):
        assert signer.verify(bad).status == "invalid"
