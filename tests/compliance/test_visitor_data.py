"""A visitor's own data through its token: history (with its own personal fields), erasure by
deleting its key; choices stay as proof and verification still passes. CORS for the site's origins."""

from __future__ import annotations

import pytest

from consent_service.extensions import db
from consent_service.models import AccessLogEntry, ConsentRecord, VisitorKey
from tests.support import DEMO_ORIGIN
from tests.support.compliance import bearer, check, post, seal_all
from tests.support.tokens import TestKeys, issue, other_site_issuer, service_issuer

HISTORY = "/v1/sites/demo/visitors/me/consents"
ERASE = "/v1/sites/demo/visitors/me/personal-data"


def as_visitor(token, origin=DEMO_ORIGIN):
    headers = {"X-Consent-Token": token}
    if origin:
        headers["Origin"] = origin
    return headers


@pytest.fixture
def visitor(client, demo, consent_body):
    first = post(client, consent_body)
    second = post(client, consent_body, token=first["token"], method="accept_all",
                  choices={"necessary": True, "preferences": True, "analytics": True, "marketing": True})
    post(client, consent_body)  # someone else
    return second


def test_history_lists_own_records_newest_first(app, client, visitor):
    response = client.get(HISTORY, headers=as_visitor(visitor["token"]))
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == DEMO_ORIGIN
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["visitor_id"] == visitor["visitor_id"] and body["personal_data"] == "present"
    assert [r["method"] for r in body["records"]] == ["accept_all", "custom"]
    assert body["records"][0]["id"] == visitor["record_id"]
    assert body["records"][0]["page_url"] == "http://127.0.0.1:8000/products"
    assert body["records"][0]["user_agent"] == "Mozilla/5.0 test"
    # without Origin (not a browser) it works too, without CORS headers
    plain = client.get(HISTORY, headers=as_visitor(visitor["token"], origin=None))
    assert plain.status_code == 200 and "Access-Control-Allow-Origin" not in plain.headers


def test_erasure_deletes_the_key_keeps_the_choices_and_verify_passes(app, client, visitor):
    seal_all(app)
    response = client.delete(ERASE, headers=as_visitor(visitor["token"]))
    assert response.status_code == 200 and response.get_json()["key_deleted"] is True
    assert response.get_json()["records"] == 2
    with app.app_context():
        assert db.session.get(VisitorKey, visitor["visitor_id"]) is None
        rows = db.session.query(ConsentRecord).filter_by(visitor_id=visitor["visitor_id"]).all()
        # The ciphertexts stay, covered by the seal and unreadable: their key is gone (see
        # test_erasure_files.py for the database files themselves). The HMACs stay, inert.
        assert len(rows) == 2 and all(r.page_url is not None and r.user_agent is not None for r in rows)
        assert all(r.page_url_digest for r in rows)
        assert check(app).ok
        others = db.session.query(ConsentRecord).filter(ConsentRecord.visitor_id != visitor["visitor_id"]).one()
        assert others.page_url is not None
    body = client.get(HISTORY, headers=as_visitor(visitor["token"])).get_json()
    assert body["personal_data"] == "erased" and len(body["records"]) == 2
    assert body["records"][0]["page_url"] is None and body["records"][0]["method"] == "accept_all"
    # the backend still sees the current choice
    current = client.get(f"/v1/sites/demo/visitors/{visitor['visitor_id']}/consent", headers=bearer(app, "read"))
    assert current.get_json()["status"] == "valid"
    # erasing again is harmless; the export shows the records as erased
    again = client.delete(ERASE, headers=as_visitor(visitor["token"]))
    assert again.status_code == 200 and again.get_json()["key_deleted"] is False
    lines = client.get("/v1/sites/demo/exports/consents", headers=bearer(app, "export")).get_data(as_text=True)
    assert lines.count('"personal_data":"erased"') == 2
    with app.app_context():
        actions = [e.action for e in db.session.query(AccessLogEntry).order_by(AccessLogEntry.id)]
        assert actions.count("visitor.erase") == 2 and "visitor.history" in actions


def test_new_choice_after_erasure_works(app, client, visitor, consent_body):
    client.delete(ERASE, headers=as_visitor(visitor["token"]))
    again = post(client, consent_body, token=visitor["token"])
    assert again["visitor_id"] == visitor["visitor_id"]
    body = client.get(HISTORY, headers=as_visitor(again["token"])).get_json()
    assert body["personal_data"] == "present" and body["records"][0]["page_url"] is not None
    assert body["records"][1]["page_url"] is None


@pytest.mark.parametrize("token", [
    "", "garbage", "x" * 5000, "a.b.c", "\u00e9\u4e2d", "null", "eyJzIjoiZGVtbyJ9.forged",
])
def test_bad_tokens_are_401(client, demo, token):
    for method, url in (("get", HISTORY), ("delete", ERASE)):
        headers = {"Origin": DEMO_ORIGIN}
        if token:
            headers["X-Consent-Token"] = token.encode("utf-8").decode("latin-1")
        response = getattr(client, method)(url, headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] in ("invalid_token", "missing_token")
        assert response.headers["Access-Control-Allow-Origin"] == DEMO_ORIGIN


@pytest.mark.parametrize("signed_by", ["another site", "a key of nobody's"])
def test_foreign_site_token_is_401(app, client, visitor, signed_by):
    issuer = other_site_issuer(app) if signed_by == "another site" else TestKeys("demo").issuer
    foreign = issue(issuer, visitor_id=visitor["visitor_id"], granted=["necessary"], expires_at=2**31)
    response = client.delete(ERASE, headers=as_visitor(foreign))
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "invalid_token"
    with app.app_context():
        assert db.session.get(VisitorKey, visitor["visitor_id"]) is not None


def test_expired_token_still_identifies_the_visitor(app, client, visitor):
    old = issue(service_issuer(app), visitor_id=visitor["visitor_id"], granted=["necessary"],
                record_id=visitor["record_id"], expires_at=1)
    assert client.get(HISTORY, headers=as_visitor(old)).status_code == 200


def test_cors_preflight_and_origins(client, visitor):
    for url in (HISTORY, ERASE):
        ok = client.options(url, headers={"Origin": DEMO_ORIGIN, "Access-Control-Request-Method": "DELETE",
                                          "Access-Control-Request-Headers": "X-Consent-Token"})
        assert ok.status_code == 204 and ok.headers["Access-Control-Allow-Origin"] == DEMO_ORIGIN
        assert "X-Consent-Token" in ok.headers["Access-Control-Allow-Headers"]
        assert "DELETE" in ok.headers["Access-Control-Allow-Methods"]
        bad = client.options(url, headers={"Origin": "https://evil.example"})
        assert bad.status_code == 403 and "Access-Control-Allow-Origin" not in bad.headers
    evil = client.delete(ERASE, headers=as_visitor(visitor["token"], origin="https://evil.example"))
    assert evil.status_code == 403 and evil.get_json()["error"]["code"] == "origin_not_allowed"
    assert client.get("/v1/sites/nope/visitors/me/consents", headers=as_visitor(visitor["token"])).status_code == 404
