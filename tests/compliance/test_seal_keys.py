"""Seal keys: derived from secrets with a label of their own, the newest signs, older and retired
(JWKS-only) keys verify, and the published JWKS holds public keys only."""

from __future__ import annotations

import json

import pytest

from consent_service.compliance.seal_keys import SealKeyError, SealSigner, SealVerifier, key_id
from consent_service.config import ConfigError
from consent_service.keyring import Keyring
from tests.support import TEST_ENV

OLD, NEW = "old-seal-secret-0123456789abcdef0123", "new-seal-secret-0123456789abcdef0123"


def test_rotation_keeps_old_signatures_verifiable():
    old = SealSigner([OLD])
    kid, signature = old.sign(b"statement")
    rotated = SealSigner([NEW, OLD])
    assert rotated.kid != kid and rotated.verifier.verify(kid, b"statement", signature)
    assert not rotated.verifier.verify(kid, b"statement!", signature)
    assert not SealSigner([NEW]).verifier.verify(kid, b"statement", signature)
    # Retired: only its public key is kept, as a JWKS.
    retired = SealVerifier.from_jwks(json.loads(json.dumps(old.verifier.jwks())))
    assert SealSigner([NEW], retired).verifier.verify(kid, b"statement", signature)


def test_signatures_are_strict_lowercase_hex():
    signer = SealSigner([NEW])
    kid, signature = signer.sign(b"x")
    for bad in (signature.upper(), signature[:-2], signature + "00", None, 42, ""):
        assert not signer.verifier.verify(kid, b"x", bad)
    assert not signer.verifier.verify("unknown", b"x", signature)


def test_the_jwks_publishes_public_keys_with_thumbprint_ids():
    signer = SealSigner([NEW, OLD])
    jwks = signer.verifier.jwks()
    assert [jwk["kid"] for jwk in jwks["keys"]][0] == signer.kid and len(jwks["keys"]) == 2
    assert all(set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"} for jwk in jwks["keys"])
    assert SealVerifier.from_jwks(jwks).keys.keys() == signer.verifier.keys.keys()
    assert key_id(next(iter(signer.verifier.keys.values()))) == signer.kid


@pytest.mark.parametrize("jwks", [
    {}, {"keys": []}, {"keys": [{"kty": "RSA"}]}, {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA"}]},
    {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "A" * 43, "d": "A" * 43}]}, "nope",
])
def test_bad_jwks_are_refused(jwks):
    with pytest.raises(SealKeyError):
        SealVerifier.from_jwks(jwks)


def test_seal_keys_are_not_the_kek_or_the_secret():
    """The same secret gives unrelated keys for wrapping and for sealing (each has its own label)."""
    signer, ring = SealSigner([NEW]), Keyring([NEW])
    assert signer.kid not in NEW and ring.newest_id.hex() not in signer.kid


def test_settings_and_services(make_app, tmp_path):
    default = make_app()
    derived = default.extensions["consent"].seal_signer
    assert derived.kid == SealSigner(TEST_ENV["SECRET_KEYS"].split(",")).kid
    own = make_app(SEAL_KEYS=NEW).extensions["consent"].seal_signer
    assert own.kid == SealSigner([NEW]).kid
    retired = tmp_path / "retired.json"
    retired.write_text(json.dumps(SealSigner([OLD]).verifier.jwks()))
    both = make_app(SEAL_KEYS=NEW, SEAL_VERIFY_KEYS_FILE=str(retired)).extensions["consent"].seal_signer
    assert set(both.verifier.keys) == {SealSigner([NEW]).kid, SealSigner([OLD]).kid}
    retired.write_text("{not json")
    with pytest.raises(ConfigError, match="SEAL_VERIFY_KEYS_FILE"):
        make_app(SEAL_VERIFY_KEYS_FILE=str(retired))
    with pytest.raises(ConfigError, match="SEAL_KEYS"):
        make_app(CONSENT_ENV="production", SEAL_KEYS="short", IP_PEPPER="p" * 40, SECRET_KEYS="k" * 40,
                 PUBLIC_URL="https://consent.example.com")
