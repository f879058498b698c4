"""A real token of the service, checked by someone else's code with nothing but the site's JWKS
document as served: Node's built-in crypto (no npm package) and a second Python JOSE library
(jwcrypto). What a shop's backend in any language does."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import DEMO_ORIGIN, require_service
from tests.support.tokens import EVERYTHING, TestKeys

SCRIPT = Path(__file__).parent / "support" / "verify_jws.js"


@pytest.fixture
def served(app, client, demo, consent_body, tmp_path):
    """A token the service issued and the JWKS it serves, written where a shop would keep it."""
    recorded = client.post("/v1/sites/demo/consents", json=consent_body(), headers={"Origin": DEMO_ORIGIN})
    jwks = client.get("/v1/sites/demo/jwks.json")
    assert recorded.status_code == 201 and jwks.status_code == 200
    path = tmp_path / "demo.jwks.json"
    path.write_bytes(jwks.data)
    return recorded.get_json(), json.loads(jwks.data), path


def forgeries(token: str) -> list[str]:
    header, payload, signature = token.split(".")
    flipped = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
    everything = TestKeys("demo").token(granted=EVERYTHING)
    return [f"{header}.{payload}.{flipped}", f"{header}.{everything.split('.')[1]}.{signature}", everything]


def node_verify(jwks_path: Path, token: str, site: str = "demo") -> dict:
    node = shutil.which("node")
    if node is None:
        require_service("Node.js", "node is not on the PATH")
    run = subprocess.run([node, str(SCRIPT), str(jwks_path), token, site], capture_output=True, text=True,
                         timeout=30, check=True)
    return json.loads(run.stdout)


def test_node_builtin_crypto_verifies_a_real_token(served):
    recorded, _, path = served
    answer = node_verify(path, recorded["token"])
    assert answer["valid"] is True
    assert answer["claims"]["sub"] == recorded["visitor_id"] and answer["claims"]["rid"] == recorded["record_id"]
    assert sorted(answer["claims"]["g"]) == ["analytics", "necessary"]
    for forged in forgeries(recorded["token"]):
        assert node_verify(path, forged)["valid"] is False
    assert node_verify(path, recorded["token"], site="other")["valid"] is False


def test_jwcrypto_verifies_a_real_token(served):
    from jwcrypto import jwk, jwt
    from jwcrypto.common import JWException

    recorded, document, _ = served
    keyset = jwk.JWKSet.from_json(json.dumps(document))
    checked = jwt.JWT(jwt=recorded["token"], key=keyset, algs=["EdDSA"], expected_type="JWS",
                      check_claims={"aud": "demo", "exp": None})
    claims = json.loads(checked.claims)
    assert claims["sub"] == recorded["visitor_id"] and claims["pv"] == 1
    for forged in forgeries(recorded["token"]):
        with pytest.raises((JWException, ValueError)):
            jwt.JWT(jwt=forged, key=keyset, algs=["EdDSA"], expected_type="JWS", check_claims={"aud": "demo"})
    with pytest.raises(JWException):
        jwt.JWT(jwt=recorded["token"], key=keyset, algs=["EdDSA"], expected_type="JWS",
                check_claims={"aud": "other"})
