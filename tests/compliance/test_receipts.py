"""Receipts: a visitor downloads one per record with its token; each checks offline against the
published seal keys, and fails after any one byte of it — its record or its seal — changes."""

from __future__ import annotations

import json

import pytest

from consent_service.canonical import canonical_json
from consent_service.cli import main
from consent_service.compliance.receipts import ReceiptRefused, check_receipts
from consent_service.compliance.seal_keys import SealSigner, SealVerifier
from consent_service.extensions import db
from consent_service.models import AccessLogEntry
from tests.support import DEMO_ORIGIN, services
from tests.support.compliance import ALL, post, seal_all, sql

RECEIPTS = "/v1/sites/demo/visitors/me/receipts"
KEYS = "/v1/sites/demo/proof/keys"


def download(client, token):
    response = client.get(RECEIPTS, headers={"Origin": DEMO_ORIGIN, "X-Consent-Token": token})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store" and "attachment" in response.headers["Content-Disposition"]
    return response.get_data()


@pytest.fixture
def visitor(client, demo, consent_body):
    first = post(client, consent_body)
    second = post(client, consent_body, token=first["token"], method="accept_all", choices=ALL)
    post(client, consent_body)  # someone else, in the same seal
    return second


def published(client):
    response = client.get(KEYS)
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == "*"
    return SealVerifier.from_jwks(response.get_json())


def test_a_pending_receipt_expects_its_seal_by_the_databases_clock(app, client, demo, visitor):
    """A writer whose clock is a day behind stamps its record a day back; seals follow the order
    and time the database stored it, so the promised sealing time counts from that."""
    from datetime import UTC, datetime, timedelta

    sql(app, "UPDATE consent_records SET created_at = created_at - INTERVAL '1 day' WHERE id = :id"
        if app.extensions["consent"].settings.database_url.startswith("postgresql") else
        "UPDATE consent_records SET created_at = datetime(created_at, '-1 day') WHERE id = :id",
        id=visitor["record_id"])
    pending = json.loads(download(client, visitor["token"]))["receipts"][0]
    promised = datetime.fromisoformat(pending["pending"]["expected_sealed_by"].replace("Z", "+00:00"))
    assert promised > datetime.now(UTC) - timedelta(minutes=1), pending["pending"]


def test_receipts_before_and_after_sealing(app, client, demo, visitor):
    pending = json.loads(download(client, visitor["token"]))["receipts"]
    assert [receipt["consent"]["record_id"] for receipt in pending][0] == visitor["record_id"]
    assert all("pending" in receipt and receipt["pending"]["expected_sealed_by"] for receipt in pending)
    with pytest.raises(ReceiptRefused, match="not sealed yet"):
        check_receipts(canonical_json({"receipts": pending[:1]}), published(client))

    seal_all(app)
    data = download(client, visitor["token"])
    checked = check_receipts(data, published(client))
    assert [consent["method"] for consent in checked] == ["accept_all", "custom"]
    consent = checked[0]
    assert consent["principal_id"] == visitor["visitor_id"] and consent["record_id"] == visitor["record_id"]
    assert {p["purpose"]: p["status"] for p in consent["purposes"]} == {
        "necessary": "given", "preferences": "given", "analytics": "given", "marketing": "given"}
    assert consent["notice"] == {"version": 1, "hash": demo.policy_hash, "language": "en"}
    assert checked[1]["purposes"][1] == {"purpose": "marketing", "status": "refused"}
    receipt = json.loads(data)["receipts"][0]
    assert receipt["inclusion"]["tree_size"] == 3 and len(receipt["inclusion"]["path"]) == 2
    assert "user_agent" not in receipt["record"] and receipt["leaf"]["ciphertexts"]["user_agent"]
    with app.app_context():
        assert db.session.query(AccessLogEntry).filter_by(action="visitor.receipts").count() == 2


def test_any_changed_byte_is_refused(app, client, visitor):
    seal_all(app)
    document = json.loads(download(client, visitor["token"]))
    data = canonical_json({"receipts": document["receipts"][:1]})
    verifier = published(client)
    assert check_receipts(data, verifier)
    accepted = []
    for position in range(len(data)):
        for flip in (0x01, 0x20):
            changed = bytearray(data)
            changed[position] ^= flip
            try:
                check_receipts(bytes(changed), verifier)
            except ReceiptRefused:
                continue
            accepted.append((position, flip, data[position - 20:position + 20]))
    assert accepted == []


def test_a_record_or_seal_changed_and_rehashed_is_refused(app, client, visitor):
    """An intruder who edits the receipt's record, or its seal, and recomputes every hash it can
    (without the seal key) still gets a refusal."""
    from consent_service.compliance import seals
    from consent_service.consents import record_crypto

    seal_all(app)
    receipt = json.loads(download(client, visitor["token"]))["receipts"][1]
    verifier = published(client)

    edited = json.loads(json.dumps(receipt))
    edited["record"]["choices"]["marketing"] = True
    edited["record"]["method"] = "accept_all"
    edited["leaf"]["digest"] = record_crypto.record_digest(edited["record"])
    from consent_service.compliance.receipts import consent_view

    edited["consent"] = consent_view(edited["record"])
    with pytest.raises(ReceiptRefused, match="inclusion proof"):
        check_receipts(canonical_json({"receipts": [edited]}), verifier)

    resealed = json.loads(json.dumps(edited))
    from consent_service.compliance import merkle
    from consent_service.consents.record_crypto import leaf_data

    resealed["seal"]["statement"]["merkle_root"] = merkle.root_from_proof(
        resealed["inclusion"]["leaf_index"], resealed["inclusion"]["tree_size"],
        merkle.leaf_hash(leaf_data(resealed["leaf"])), [bytes.fromhex(n) for n in resealed["inclusion"]["path"]]).hex()
    resealed["seal"]["digest"] = seals.statement_digest(resealed["seal"]["statement"])
    with pytest.raises(ReceiptRefused, match="signature"):
        check_receipts(canonical_json({"receipts": [resealed]}), verifier)
    own = SealSigner(["an-intruders-own-seal-secret-0123456789"])
    resealed["seal"]["statement"]["key_id"] = own.kid
    resealed["seal"]["digest"] = seals.statement_digest(resealed["seal"]["statement"])
    resealed["seal"]["signature"] = own.sign(canonical_json(resealed["seal"]["statement"]))[1]
    with pytest.raises(ReceiptRefused, match="published seal key"):
        check_receipts(canonical_json({"receipts": [resealed]}), verifier)


def test_check_receipt_command(app, client, visitor, tmp_path):
    seal_all(app)
    receipt_file = tmp_path / "receipts.json"
    receipt_file.write_bytes(download(client, visitor["token"]))
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps(client.get(KEYS).get_json()))
    runner = app.test_cli_runner()
    ok = runner.invoke(main, ["proof", "check-receipt", str(receipt_file), "--keys", str(keys_file)])
    assert ok.exit_code == 0 and ok.output.count("ok: record") == 2 and visitor["record_id"] in ok.output
    data = bytearray(receipt_file.read_bytes())
    data[data.index(b'"accept_all"') + 2] ^= 1
    receipt_file.write_bytes(bytes(data))
    refused = runner.invoke(main, ["proof", "check-receipt", str(receipt_file), "--keys", str(keys_file)])
    assert refused.exit_code == 1 and "refused" in refused.output
    keys_file.write_text("{}")
    assert runner.invoke(main, ["proof", "check-receipt", str(receipt_file), "--keys", str(keys_file)]).exit_code == 1
    keys = runner.invoke(main, ["proof", "keys"])
    assert keys.exit_code == 0 and json.loads(keys.output) == client.get(KEYS).get_json()
    assert json.loads(keys.output)["keys"][0]["kid"] == services(app).seal_signer.kid


def test_receipts_need_the_visitors_token_and_the_sites_origin(client, visitor):
    assert client.get(RECEIPTS).status_code == 401
    assert client.get(RECEIPTS, headers={"X-Consent-Token": "forged"}).get_json()["error"]["code"] == "invalid_token"
    evil = client.get(RECEIPTS, headers={"Origin": "https://evil.example", "X-Consent-Token": visitor["token"]})
    assert evil.status_code == 403
    ok = client.options(RECEIPTS, headers={"Origin": DEMO_ORIGIN, "Access-Control-Request-Method": "GET",
                                           "Access-Control-Request-Headers": "X-Consent-Token"})
    assert ok.status_code == 204
    assert client.get("/v1/sites/nope/proof/keys").status_code == 404
    assert client.get(KEYS + "?x=1").status_code == 400


@pytest.mark.parametrize("data", [b"", b"null", b"[]", b'{"receipts": []}', b"\xff\xfe", b'{"receipts":[1]}',
                                  b'{"receipts":[{"type":"consent-service receipt v1"}]}'])
def test_malformed_files_are_refused_not_crashed(client, demo, data):
    with pytest.raises(ReceiptRefused):
        check_receipts(data, published(client))
