"""The shop backend's API: keys (CLI), a visitor's current consent, token verification."""

from __future__ import annotations

import time
from datetime import UTC

import pytest

from consent_service.auth import create_key
from consent_service.cli import main
from consent_service.extensions import db
from consent_service.models import AccessLogEntry, ApiKey
from tests.support import DEMO_ORIGIN, services, sync_demo
from tests.support.tokens import issue, service_issuer


def key(app, scope="read", site="demo"):
    with app.app_context():
        return create_key(db.session, site, scope)[1]


def bearer(plaintext):
    return {"Authorization": f"Bearer {plaintext}"}


def record(client, consent_body, **changes):
    return client.post("/v1/sites/demo/consents", json=consent_body(**changes),
                       headers={"Origin": DEMO_ORIGIN}).get_json()


def test_cli_creates_lists_and_revokes_keys(app, demo):
    runner = app.test_cli_runner()
    created = runner.invoke(main, ["keys", "create", "--site", "demo", "--scope", "read", "--label", "shop"])
    assert created.exit_code == 0
    plaintext = created.stdout.strip().splitlines()[-1]
    assert plaintext.startswith("csk_")
    with app.app_context():
        stored = db.session.query(ApiKey).one()
        assert plaintext.split("_", 2)[2] not in (stored.secret_hash, stored.label)
        assert len(stored.secret_hash) == 64
    listed = runner.invoke(main, ["keys", "list", "--site", "demo"]).output
    assert stored.id in listed and "active" in listed and plaintext not in listed
    client = app.test_client()
    url = "/v1/sites/demo/visitors/01JAAAAAAAAAAAAAAAAAAAAAAA/consent"
    assert client.get(url, headers=bearer(plaintext)).status_code == 200
    assert runner.invoke(main, ["keys", "revoke", stored.id]).exit_code == 0
    revoked = client.get(url, headers=bearer(plaintext))
    assert revoked.status_code == 401 and revoked.get_json()["error"]["code"] == "revoked_api_key"
    with app.app_context():
        actions = [entry.action for entry in db.session.query(AccessLogEntry).order_by(AccessLogEntry.id)]
        assert actions == ["key.create", "key.revoke"]
    assert runner.invoke(main, ["keys", "create", "--site", "nope", "--scope", "read"]).exit_code != 0
    assert runner.invoke(main, ["keys", "revoke", "nope"]).exit_code != 0


def test_current_consent_statuses(app, client, demo, consent_body, tmp_path):
    headers = bearer(key(app))
    first = record(client, consent_body)
    url = f"/v1/sites/demo/visitors/{first['visitor_id']}/consent"
    body = client.get(url, headers=headers).get_json()
    assert body["status"] == "valid" and body["granted"] == ["analytics", "necessary"]
    assert body["record_id"] == first["record_id"] and body["method"] == "custom"
    # A newer choice replaces it.
    second = record(client, consent_body, token=first["token"], method="withdraw",
                    choices={c: c == "necessary" for c in demo.regime_categories("opt-in")})
    body = client.get(url, headers=headers).get_json()
    assert body["record_id"] == second["record_id"] and body["granted"] == ["necessary"]
    # Unknown visitor.
    none = client.get("/v1/sites/demo/visitors/01JAAAAAAAAAAAAAAAAAAAAAAA/consent", headers=headers)
    assert none.get_json() == {"visitor_id": "01JAAAAAAAAAAAAAAAAAAAAAAA", "status": "none", "granted": ["necessary"],
                               "policy_version": None, "record_id": None, "expires_at": None, "choices": None,
                               "method": None, "recorded_at": None, "regime": None}
    # A new policy version makes it outdated.
    from tests.support import DEMO_TOML

    changed = tmp_path / "demo.toml"
    changed.write_text(DEMO_TOML.read_text().replace("Reject all", "Refuse all"))
    sync_demo(app, changed)
    assert client.get(url, headers=headers).get_json()["status"] == "outdated"


def test_expired_consent(app, client, demo, consent_body):
    from datetime import datetime, timedelta

    from consent_service.consents.recording import Choice

    headers = bearer(key(app))
    with app.app_context():
        long_ago = datetime.now(UTC) - timedelta(days=400)
        recorded = services(app).record(db.session, demo, Choice(
            policy_version=1, choices=dict.fromkeys(demo.regime_categories("opt-in"), True), method="accept_all"),
            now=long_ago)
    body = client.get(f"/v1/sites/demo/visitors/{recorded.visitor_id}/consent", headers=headers).get_json()
    assert body["status"] == "expired"


def test_verify_endpoint(app, client, demo, consent_body):
    headers = bearer(key(app))
    token = record(client, consent_body)["token"]
    body = client.post("/v1/sites/demo/tokens/verify", json={"token": token}, headers=headers).get_json()
    assert body["status"] == "valid" and body["granted"] == ["analytics", "necessary"]
    forged = token[:-4] + "AAAA"
    assert client.post("/v1/sites/demo/tokens/verify", json={"token": forged},
                       headers=headers).get_json()["status"] == "invalid"
    bad = client.post("/v1/sites/demo/tokens/verify", json={"token": 5}, headers=headers)
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_body"
    expired = issue(service_issuer(app), visitor_id="v", granted=["necessary"], record_id="r",
                    expires_at=int(time.time()) - 5)
    assert client.post("/v1/sites/demo/tokens/verify", json={"token": expired},
                       headers=headers).get_json()["status"] == "expired"


@pytest.mark.parametrize("header,status,code", [
    (None, 401, "missing_api_key"),
    ("Basic dXNlcjpwYXNz", 401, "invalid_api_key"),
    ("Bearer ", 401, "invalid_api_key"),
    ("Bearer csk_nope_nope", 401, "invalid_api_key"),
    ("Bearer csk_" + "x" * 300, 401, "invalid_api_key"),
    ("Bearer not-a-key", 401, "invalid_api_key"),
])
def test_bad_credentials(app, client, demo, header, status, code):
    headers = {"Authorization": header} if header else {}
    response = client.get("/v1/sites/demo/visitors/01JAAAAAAAAAAAAAAAAAAAAAAA/consent", headers=headers)
    assert response.status_code == status and response.get_json()["error"]["code"] == code


def test_wrong_secret_other_site_and_scope(app, client, demo, tmp_path):
    from tests.support import DEMO_TOML

    other = tmp_path / "other.toml"
    other.write_text(DEMO_TOML.read_text().replace('id = "demo"', 'id = "other"'))
    sync_demo(app, other)
    url = "/v1/sites/demo/visitors/01JAAAAAAAAAAAAAAAAAAAAAAA/consent"
    good = key(app)
    wrong_secret = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    assert client.get(url, headers=bearer(wrong_secret)).get_json()["error"]["code"] == "invalid_api_key"
    other_site = client.get(url, headers=bearer(key(app, site="other")))
    assert other_site.status_code == 403 and other_site.get_json()["error"]["code"] == "wrong_site"
    export_only = client.get(url, headers=bearer(key(app, scope="export")))
    assert export_only.status_code == 403 and export_only.get_json()["error"]["code"] == "insufficient_scope"
    assert client.get(url, headers=bearer(key(app, scope="admin"))).status_code == 200


def test_bad_visitor_id_and_unknown_site(app, client, demo):
    headers = bearer(key(app))
    bad = client.get("/v1/sites/demo/visitors/not-an-id/consent", headers=headers)
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_visitor_id"
    elsewhere = client.get("/v1/sites/nope/visitors/01JAAAAAAAAAAAAAAAAAAAAAAA/consent", headers=headers)
    assert elsewhere.status_code == 403
