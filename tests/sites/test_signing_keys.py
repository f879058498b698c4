"""Each site's signing keys: the first one, wrapping at rest, rotation published ahead of signing,
retirement, re-wrapping, the CLI and its access-log entries, and processes that learn of a rotation
made elsewhere."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from consent_service.cli import main
from consent_service.errors import Conflict, NotFound
from consent_service.extensions import db
from consent_service.keyring import Keyring, KeyUnavailable
from consent_service.models import AccessLogEntry, SigningKey
from consent_service.sites import signing_keys
from consent_service.tokens import PublicKeys, key_id
from tests.support import DEMO_ORIGIN, DEMO_TOML, TEST_ENV, services
from tests.support.tokens import issue, service_issuer


def rows(app, site_id="demo"):
    with app.app_context():
        found = signing_keys.all_keys(db.session, site_id)
        db.session.expunge_all()
        return found


def record(client, consent_body, **changes):
    response = client.post("/v1/sites/demo/consents", json=consent_body(**changes), headers={"Origin": DEMO_ORIGIN})
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def test_the_cli_sync_gives_a_site_its_first_key(app):
    result = app.test_cli_runner().invoke(main, ["sites", "sync", str(DEMO_TOML)])
    assert result.exit_code == 0, result.output
    [key] = rows(app)
    assert f"first signing key {key.kid}" in result.output
    again = app.test_cli_runner().invoke(main, ["sites", "sync", str(DEMO_TOML)])
    assert "first signing key" not in again.output and len(rows(app)) == 1


def test_a_site_synced_without_a_keyring_gets_its_key_on_first_use(app, client, demo, consent_body):
    assert rows(app) == []
    token = record(client, consent_body)["token"]
    [key] = rows(app)
    assert key_id(token) == key.kid


def test_private_keys_are_stored_wrapped_and_bound_to_their_row(app, demo):
    service_issuer(app)
    [key] = rows(app)
    wrapped = bytes(key.wrapped_private_key)
    assert wrapped.startswith(b"w1") and len(wrapped) == 2 + 4 + 12 + 32 + 16
    keyring = services(app).keyring
    raw = keyring.unwrap(wrapped, b"signing-key\0demo\0" + key.kid.encode())
    assert raw not in wrapped
    with pytest.raises(KeyUnavailable):  # copied to another kid or site, it does not open
        keyring.unwrap(wrapped, b"signing-key\0other\0" + key.kid.encode())
    with pytest.raises(KeyUnavailable):  # nor under other secrets
        Keyring(["a-different-secret-0123456789abcdef"]).unwrap(wrapped, b"signing-key\0demo\0" + key.kid.encode())
    with app.app_context():  # nothing in the table is the raw private key
        stored = db.session.execute(sa.text("SELECT * FROM signing_keys")).mappings().one()
        assert all(raw not in bytes(value) for value in stored.values() if isinstance(value, (bytes, memoryview)))


def test_rotation_publishes_first_then_signs(app, client, demo, consent_body):
    first = record(client, consent_body)["token"]
    old_kid = key_id(first)
    runner = app.test_cli_runner()
    rotated = runner.invoke(main, ["signing-keys", "rotate", "--site", "demo"])
    assert rotated.exit_code == 0, rotated.output
    new_kid = next(key.kid for key in rows(app) if key.kid != old_kid)
    # Published at once (JWKS and banner), signing only later: tokens still come from the old key.
    assert {k["kid"] for k in client.get("/v1/sites/demo/jwks.json").get_json()["keys"]} == {old_kid, new_kid}
    assert new_kid in client.get("/v1/sites/demo/config").get_json()["keys"]
    assert key_id(record(client, consent_body)["token"]) == old_kid
    listed = runner.invoke(main, ["signing-keys", "list", "--site", "demo"]).output
    assert f"{old_kid}\tsigning" in listed and f"{new_kid}\tpublished, signs from" in listed
    # --now: the newest key signs at once; tokens of the older keys still verify.
    now = runner.invoke(main, ["signing-keys", "rotate", "--site", "demo", "--now"])
    assert now.exit_code == 0, now.output
    newest = record(client, consent_body, token=first)
    assert key_id(newest["token"]) not in (old_kid, new_kid)
    assert client.get("/v1/sites/demo/visitors/me/consents", headers={"X-Consent-Token": first}).status_code == 200
    with app.app_context():
        actions = [(e.action, e.details["kid"]) for e in db.session.query(AccessLogEntry).order_by(AccessLogEntry.id)
                   if e.action.startswith("signing_key.")]
    assert [action for action, _ in actions] == ["signing_key.rotate", "signing_key.rotate"]
    assert actions[0][1] == new_kid


def test_retirement_invalidates_the_keys_tokens_but_never_the_last_signer(app, client, demo, consent_body):
    token = record(client, consent_body)["token"]
    old_kid = key_id(token)
    runner = app.test_cli_runner()
    refused = runner.invoke(main, ["signing-keys", "retire", "--site", "demo", old_kid])
    assert refused.exit_code != 0 and "only key" in refused.output
    assert runner.invoke(main, ["signing-keys", "rotate", "--site", "demo"]).exit_code == 0
    pending = runner.invoke(main, ["signing-keys", "retire", "--site", "demo", old_kid])
    assert pending.exit_code != 0, "the new key does not sign yet: retiring the old one would leave none"
    assert runner.invoke(main, ["signing-keys", "rotate", "--site", "demo", "--now"]).exit_code == 0
    retired = runner.invoke(main, ["signing-keys", "retire", "--site", "demo", old_kid])
    assert retired.exit_code == 0, retired.output
    assert old_kid not in {k["kid"] for k in client.get("/v1/sites/demo/jwks.json").get_json()["keys"]}
    answer = client.post("/v1/sites/demo/consents", json=consent_body(token=token), headers={"Origin": DEMO_ORIGIN})
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "invalid_token"
    assert runner.invoke(main, ["signing-keys", "retire", "--site", "demo", old_kid]).exit_code != 0
    assert runner.invoke(main, ["signing-keys", "retire", "--site", "demo", "nosuchkid"]).exit_code != 0
    with app.app_context():
        assert db.session.query(AccessLogEntry).filter_by(action="signing_key.retire").count() == 1


def test_retire_and_rotate_refusals_in_the_domain(app, demo):
    service_issuer(app)
    with app.app_context():
        with pytest.raises(NotFound):
            signing_keys.retire_key(db.session, "other", rows(app)[0].kid)
        with pytest.raises(Conflict):
            signing_keys.retire_key(db.session, "demo", rows(app)[0].kid)
        with pytest.raises(ValueError):
            signing_keys.rotate_key(db.session, services(app).keyring, "demo", timedelta(seconds=-1))


def test_jwks_cli_prints_public_keys_only(app, demo, tmp_path):
    issuer = service_issuer(app)
    printed = app.test_cli_runner().invoke(main, ["signing-keys", "jwks", "--site", "demo"])
    document = json.loads(printed.output)
    assert [key["kid"] for key in document["keys"]] == [issuer.kid]
    assert all("d" not in key for key in document["keys"])
    target = tmp_path / "demo.jwks.json"
    written = app.test_cli_runner().invoke(main, ["signing-keys", "jwks", "--site", "demo", "-o", str(target)])
    assert written.exit_code == 0
    assert PublicKeys.from_jwks(json.loads(target.read_text())) == PublicKeys.from_jwks(document)
    assert app.test_cli_runner().invoke(main, ["signing-keys", "jwks", "--site", "nope"]).exit_code != 0


def test_rewrap_after_a_new_secret(make_app, demo):
    app = make_app()
    issuer = service_issuer(app)
    newer = make_app(SECRET_KEYS="a-brand-new-secret-0123456789abcdef," + TEST_ENV["SECRET_KEYS"])
    result = newer.test_cli_runner().invoke(main, ["signing-keys", "rewrap"])
    assert result.exit_code == 0 and "re-wrapped 1 signing keys" in result.output
    only_new = make_app(SECRET_KEYS="a-brand-new-secret-0123456789abcdef")
    assert service_issuer(only_new).kid == issuer.kid, "the re-wrapped key opens under the new secret alone"


def test_another_process_learns_of_a_rotation_at_once(make_app, demo, consent_body):
    """Process B has the keys cached; process A rotates with --now. B accepts A's new tokens at once
    (a token naming a key it has not loaded makes it read the keys again)."""
    a, b = make_app(SITE_CACHE_SECONDS="300"), make_app(SITE_CACHE_SECONDS="300")
    cached = service_issuer(b).kid  # B caches the site's keys
    assert a.test_cli_runner().invoke(main, ["signing-keys", "rotate", "--site", "demo", "--now"]).exit_code == 0
    token = record(a.test_client(), consent_body)["token"]
    assert key_id(token) != cached
    response = b.test_client().get("/v1/sites/demo/visitors/me/consents", headers={"X-Consent-Token": token})
    assert response.status_code == 200


def test_a_token_of_a_key_no_one_has_is_refused(app, client, demo, consent_body):
    from tests.support.tokens import TestKeys

    forged = issue(TestKeys("demo").issuer)
    answer = client.post("/v1/sites/demo/consents", json=consent_body(token=forged), headers={"Origin": DEMO_ORIGIN})
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "invalid_token"
    with app.app_context():
        assert db.session.query(SigningKey).count() == 1
