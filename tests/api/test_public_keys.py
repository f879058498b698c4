"""What the service publishes for verification: the JWKS, the keys inlined in the banner and its
configuration, the banner's token check; and PUBLIC_URL, never the request's Host."""

from __future__ import annotations

import pytest

from consent_service.config import ConfigError, Settings
from consent_service.tokens import PublicKeys
from tests.support import DEMO_ORIGIN, TEST_ENV, sync_demo
from tests.support.tokens import EVERYTHING, TestKeys, issue, service_issuer

CHECK = "/v1/sites/demo/tokens/check"


def test_jwks_is_public_cacheable_and_conditional(app, client, demo):
    issuer = service_issuer(app)
    response = client.get("/v1/sites/demo/jwks.json")
    assert response.status_code == 200 and response.mimetype == "application/jwk-set+json"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    document = response.get_json(force=True)
    assert [key["kid"] for key in document["keys"]] == [issuer.kid]
    assert document["keys"][0].keys() == {"kty", "crv", "x", "kid", "use", "alg"}
    assert PublicKeys.from_jwks(document)[issuer.kid]
    again = client.get("/v1/sites/demo/jwks.json", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert client.get("/v1/sites/nope/jwks.json").get_json()["error"]["code"] == "unknown_site"


def test_the_banner_and_its_config_inline_the_public_keys(app, client, demo):
    issuer = service_issuer(app)
    config = client.get("/v1/sites/demo/config").get_json()
    x = PublicKeys.from_jwks(client.get("/v1/sites/demo/jwks.json").get_json(force=True)).inline()[issuer.kid]
    assert config["keys"] == {issuer.kid: x}
    banner = client.get("/v1/sites/demo/banner.js", headers={"Accept-Encoding": "identity"}).get_data(as_text=True)
    assert f'"{issuer.kid}":"{x}"' in banner


@pytest.mark.parametrize("headers", [
    {"Host": "evil.example"}, {"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
])
def test_nothing_served_reflects_the_host(make_app, headers):
    app = make_app(TRUSTED_PROXIES="1")
    sync_demo(app)
    client = app.test_client()
    plain = client.get("/v1/sites/demo/banner.js", headers={"Accept-Encoding": "identity"})
    poisoned = client.get("/v1/sites/demo/banner.js", headers={"Accept-Encoding": "identity", **headers})
    assert poisoned.headers["ETag"] == plain.headers["ETag"] and poisoned.data == plain.data
    assert b"evil.example" not in poisoned.data and TEST_ENV["PUBLIC_URL"].encode() in poisoned.data
    config = client.get("/v1/sites/demo/config", headers=headers)
    assert config.get_json()["service"] == TEST_ENV["PUBLIC_URL"]
    assert config.headers["ETag"] == client.get("/v1/sites/demo/config").headers["ETag"]


def test_public_url_is_required_in_production_and_checked(tmp_path):
    production = {"CONSENT_ENV": "production", "SECRET_KEYS": "k" * 40, "IP_PEPPER": "p" * 40}
    with pytest.raises(ConfigError, match="PUBLIC_URL is required in production"):
        Settings.from_env(production, tmp_path)
    with pytest.raises(ConfigError, match="https"):
        Settings.from_env({**production, "PUBLIC_URL": "http://consent.example"}, tmp_path)
    for bad in ("consent.example", "ftp://consent.example", "https://consent.example/?x=1", "https://u:p@c.example"):
        with pytest.raises(ConfigError, match="PUBLIC_URL"):
            Settings.from_env({**production, "PUBLIC_URL": bad}, tmp_path)
    assert Settings.from_env({**production, "PUBLIC_URL": "https://consent.example/"}, tmp_path).public_url == \
        "https://consent.example"
    development = {"SECRET_KEYS": "k" * 40, "IP_PEPPER": "p"}
    assert Settings.from_env(development, tmp_path).public_url == "http://127.0.0.1:5000"
    assert Settings.from_env({**development, "PORT": "5123"}, tmp_path).public_url == "http://127.0.0.1:5123"


def check(client, token, origin=DEMO_ORIGIN):
    headers = {"Origin": origin} if origin else {}
    return client.post(CHECK, json={"token": token}, headers=headers)


def test_the_banners_token_check(app, client, demo, consent_body):
    recorded = client.post("/v1/sites/demo/consents", json=consent_body(), headers={"Origin": DEMO_ORIGIN})
    token = recorded.get_json()["token"]
    answer = check(client, token)
    assert answer.status_code == 200 and answer.headers["Access-Control-Allow-Origin"] == DEMO_ORIGIN
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.get_json()["status"] == "valid" and answer.get_json()["granted"] == ["analytics", "necessary"]
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (forged, issue(TestKeys().issuer, granted=EVERYTHING), "garbage"):
        assert check(client, bad).get_json() == {**check(client, bad).get_json(), "status": "invalid",
                                                 "granted": ["necessary"]}
    expired = issue(service_issuer(app), expires_in=-10)
    assert check(client, expired).get_json()["status"] == "expired"
    assert check(client, token, origin="https://evil.example").status_code == 403
    assert check(client, token, origin=None).status_code == 403
    assert client.post(CHECK, json={"token": 5}, headers={"Origin": DEMO_ORIGIN}).status_code == 422
    assert client.post(CHECK, data="x", headers={"Origin": DEMO_ORIGIN}).status_code == 415
    preflight = client.options(CHECK, headers={"Origin": DEMO_ORIGIN, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204 and "POST" in preflight.headers["Access-Control-Allow-Methods"]


def test_the_token_check_is_rate_limited(make_app):
    app = make_app(RATE_LIMIT_WRITES="2/minute")
    sync_demo(app)
    client = app.test_client()
    assert [check(client, "x").status_code for _ in range(3)] == [200, 200, 429]
