"""Preference tokens: EdDSA JWTs, keys by kid, rotation, audience, expiry, policy versions, JWKS,
and every forged form an outsider could try."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from consent_service.tokens import (
    ALGORITHM,
    ConsentClaims,
    PublicKeys,
    TokenIssuer,
    TokenVerifier,
    b64url,
    key_id,
    new_private_key,
)
from tests.support.tokens import EVERYTHING, TestKeys, issue


def parts(token: str) -> tuple[dict, dict, bytes]:
    header, payload, signature = token.split(".")
    decode = lambda text: base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))  # noqa: E731
    return json.loads(decode(header)), json.loads(decode(payload)), decode(signature)


def encode(document: dict) -> str:
    return b64url(json.dumps(document, separators=(",", ":")).encode())


def test_a_token_is_a_compact_eddsa_jwt_without_personal_data() -> None:
    keys = TestKeys()
    token = keys.token(granted=["necessary", "analytics"])
    header, payload, signature = parts(token)
    assert header == {"alg": "EdDSA", "kid": keys.kid}
    assert set(payload) == {"sub", "aud", "iat", "exp", "pv", "g", "rid"}
    assert payload["aud"] == "demo" and payload["g"] == ["analytics", "necessary"] and len(signature) == 64
    assert len(token) < 400, "a cookie on every request: keep it short"
    check = TokenVerifier("demo", keys.public).verify(token, current_policy_version=1)
    assert check.status == "valid" and check.granted == {"necessary", "analytics"}
    assert check.visitor_id == payload["sub"] and check.record_id == payload["rid"]
    # Any JOSE library checks it with the public key: PyJWT here, by the book.
    decoded = jwt.decode(token, keys.private.public_key(), algorithms=["EdDSA"], audience="demo")
    assert decoded["sub"] == payload["sub"]


def test_rotation_older_keys_verify_until_retired() -> None:
    old, new = TestKeys(), TestKeys()
    both = PublicKeys({**{old.kid: old.private.public_key()}, **{new.kid: new.private.public_key()}})
    old_token, new_token = old.token(), new.token()
    assert TokenVerifier("demo", both).verify(old_token).status == "valid"
    assert TokenVerifier("demo", both).verify(new_token).status == "valid"
    retired = TokenVerifier("demo", new.public)
    assert retired.verify(old_token).status == "invalid"
    assert key_id(old_token) == old.kid and key_id(new_token) == new.kid


def test_one_sites_token_is_not_anothers_even_under_the_same_key() -> None:
    keys = TestKeys("shop-a")
    token = keys.token()
    assert TokenVerifier("shop-a", keys.public).verify(token).status == "valid"
    assert TokenVerifier("shop-b", keys.public).verify(token).status == "invalid", "aud is checked"


def test_expired_and_outdated() -> None:
    keys = TestKeys()
    verifier = TokenVerifier("demo", keys.public)
    assert verifier.verify(keys.token(expires_in=-1)).status == "expired"
    outdated = verifier.verify(keys.token(), current_policy_version=4)
    assert outdated.status == "outdated" and outdated.granted == frozenset({"necessary"})
    expired = verifier.verify(keys.token(expires_in=-1, granted=EVERYTHING))
    assert expired.granted == frozenset({"necessary"}) and expired.visitor_id


def _forgeries(keys: TestKeys) -> dict[str, str]:
    """Every way an outsider can turn a real token into one that grants more."""
    real = keys.token(granted=["necessary"])
    header, payload, signature = real.split(".")
    claims = parts(real)[1]
    other_visitor = keys.token(granted=EVERYTHING, visitor_id="01J0000000000000000000VIS2")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    attacker = TestKeys("demo", kid=keys.kid)  # the same kid, the attacker's own key pair
    hs256 = jwt.encode({**claims, "g": list(EVERYTHING)}, raw_public(keys), algorithm="HS256",
                       headers={"kid": keys.kid})
    return {
        "edited signature": f"{header}.{payload}.{flipped}",
        "edited payload": f"{header}.{encode({**claims, 'g': list(EVERYTHING)})}.{signature}",
        "edited visitor id": f"{header}.{encode({**claims, 'sub': '01J0000000000000000000VIS9'})}.{signature}",
        "spliced payload": f"{header}.{other_visitor.split('.')[1]}.{signature}",
        "attacker's key under the site's kid": attacker.token(granted=EVERYTHING),
        "unsigned (alg none)": f"{encode({'alg': 'none', 'kid': keys.kid})}.{payload}.",
        "HMAC keyed with the public key": hs256,
        "kid swapped": f"{encode({'alg': 'EdDSA', 'kid': 'nobody'})}.{payload}.{signature}",
        "padded base64": f"{header}.{payload}.{signature}==",
        "four parts": f"{header}.{payload}.{signature}.{signature}",
        "garbage": "not.a.token",
    }


def raw_public(keys: TestKeys) -> bytes:
    return base64.urlsafe_b64decode(keys.public.inline()[keys.kid] + "=")


def test_every_forged_form_is_invalid() -> None:
    keys = TestKeys()
    verifier = TokenVerifier("demo", keys.public)
    for name, forged in _forgeries(keys).items():
        assert verifier.verify(forged).status == "invalid", name


@pytest.mark.parametrize("changes", [
    {"pv": True}, {"pv": "1"}, {"g": "analytics"}, {"g": [1]}, {"sub": ""}, {"rid": None}, {"exp": 1.5e12},
    {"aud": ["demo"]}, {"iat": "now"},
], ids=str)
def test_claims_of_the_wrong_type_are_invalid_even_when_signed(changes: dict) -> None:
    keys = TestKeys()
    claims = {**parts(keys.token())[1], **changes}
    token = jwt.encode(claims, keys.private, algorithm=ALGORITHM, headers={"kid": keys.kid})
    assert TokenVerifier("demo", keys.public).verify(token).status == "invalid"


def test_missing_claims_are_invalid() -> None:
    keys = TestKeys()
    for missing in ("sub", "aud", "iat", "exp", "pv", "g", "rid"):
        claims = {name: value for name, value in parts(keys.token())[1].items() if name != missing}
        token = jwt.encode(claims, keys.private, algorithm=ALGORITHM, headers={"kid": keys.kid})
        assert TokenVerifier("demo", keys.public).verify(token).status == "invalid", missing


def test_garbage_never_raises() -> None:
    keys = TestKeys()
    verifier = TokenVerifier("demo", keys.public)
    token = keys.token()
    for bad in (None, 5, "", "x" * 5000, token[:-2], token + "x", "." + token, "a.b.c", "\x00\xff",
                [token], token.replace(".", ""), "é.é.é", token.encode()):
        assert verifier.verify(bad).status == "invalid"
        assert key_id(bad) in (None, keys.kid)


def test_an_issued_at_a_little_in_the_future_is_fine() -> None:
    """A shop's clock a few seconds behind the service's must not refuse a fresh token."""
    keys = TestKeys()
    token = issue(keys.issuer, issued_at=time.time() + 30)
    assert TokenVerifier("demo", keys.public).verify(token).status == "valid"


def test_jwks_round_trip_and_strictness() -> None:
    keys = TestKeys()
    document = keys.jwks
    assert document == {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": keys.public.inline()[keys.kid],
                                  "kid": keys.kid, "use": "sig", "alg": "EdDSA"}]}
    assert PublicKeys.from_jwks(document) == keys.public
    assert PublicKeys.from_inline(keys.public.inline()) == keys.public
    # Other keys in a shared set are left out; an RSA key does not make the set unusable.
    mixed = {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "rsa"}, *document["keys"]]}
    assert list(PublicKeys.from_jwks(mixed)) == [keys.kid]
    private = {**document["keys"][0], "d": b64url(b"\0" * 32)}
    for bad in ({}, {"keys": {}}, [], {"keys": []}, {"keys": [{**document["keys"][0], "kid": None}]},
                {"keys": [{**document["keys"][0], "x": "short"}]}, {"keys": [private]},
                {"keys": [{"kty": "RSA", "kid": "rsa"}]}):
        with pytest.raises(ValueError):
            PublicKeys.from_jwks(bad)


def test_claims_are_one_dataclass() -> None:
    claims = ConsentClaims(visitor_id="v", site_id="demo", policy_version=2, granted=frozenset({"necessary"}),
                           record_id="r", issued_at=1, expires_at=2)
    assert ConsentClaims.from_payload(claims.to_payload()) == claims


def test_issuer_signs_with_its_key_only() -> None:
    private = new_private_key()
    token = TokenIssuer("demo", "only", private).issue(visitor_id="v", policy_version=1, granted=[], record_id="r",
                                                       expires_at=time.time() + 60)
    assert TokenVerifier("demo", PublicKeys({"only": private.public_key()})).verify(token).granted == {"necessary"}


def test_verdicts_are_remembered_per_token_but_expiry_is_judged_each_time() -> None:
    keys = TestKeys()
    verifier = TokenVerifier("demo", keys.public, memo_size=3)
    token = keys.token(expires_in=60)
    assert verifier.verify(token, 1).status == "valid"
    assert verifier.verify(token, 1, now=time.time() + 120).status == "expired"
    assert verifier.verify(token, 2).status == "outdated"
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert verifier.verify(forged).status == verifier.verify(forged).status == "invalid"
    for n in range(10):  # bounded
        verifier.verify(keys.token(record_id=f"r{n}"))
    assert len(verifier._memo) <= 3
    assert TokenVerifier("demo", TestKeys().public).verify(token).status == "invalid", "one memo per set of keys"
