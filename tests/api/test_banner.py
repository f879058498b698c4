"""Recording choices through the banner endpoint: the happy path, proof fields, and bad input."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from consent_service.consents.record_crypto import desensitize_ip, record_digest
from consent_service.consents.visitor_keys import open_key
from consent_service.crypto import decrypt_field
from consent_service.extensions import db
from consent_service.models import ConsentRecord, VisitorKey
from tests.support import DEMO_ORIGIN, count_records

URL = "/v1/sites/demo/consents"
HEADERS = {"Origin": DEMO_ORIGIN, "User-Agent": "Mozilla/5.0 TestBrowser"}


def post(client, body, **headers):
    return client.post(URL, json=body, headers={**HEADERS, **headers})


def test_records_a_choice_with_every_proof_field(app, client, demo, consent_body):
    response = post(client, consent_body(client_record_id="rec-0000000000000001"), **{"Sec-GPC": "1"})
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"record_id", "visitor_id", "token", "expires_at", "policy_version", "choices", "replayed",
                         "regime", "region"}
    assert body["replayed"] is False
    assert body["choices"] == {"necessary": True, "preferences": False, "analytics": True, "marketing": False}
    assert response.headers["Access-Control-Allow-Origin"] == DEMO_ORIGIN
    with app.app_context():
        record = db.session.get(ConsentRecord, body["record_id"])
        stored = db.session.get(VisitorKey, body["visitor_id"]).key
        key = open_key(app.extensions["consent"].keyring, "demo", body["visitor_id"], stored)
        assert len(stored) > len(key) and key not in stored  # wrapped under the service's secrets
        assert record.visitor_id == body["visitor_id"]
        assert record.policy_hash == demo.policy_hash and record.policy_version == 1
        assert record.method == "custom" and record.language == "en" and record.gpc is True
        assert record.banner_version == "test"
        assert (record.expires_at - record.created_at).days == 365
        # Personal fields are encrypted at rest; the query string never reaches storage.
        assert b"products" not in record.page_url and b"TestBrowser" not in record.user_agent
        assert decrypt_field(key, record.id, "page_url", record.page_url) == f"{DEMO_ORIGIN}/products"
        assert decrypt_field(key, record.id, "user_agent", record.user_agent) == "Mozilla/5.0 TestBrowser"
        # The IP address is truncated and peppered, never raw.
        assert record.ip_hash == desensitize_ip("127.0.0.1", "test-pepper")
        assert "127.0.0" not in record.ip_hash
        assert record.digest == record_digest(record)


def test_refusal_uses_the_shorter_lifetime(app, client, demo, consent_body):
    choices = {"necessary": True, "preferences": False, "analytics": False, "marketing": False}
    body = post(client, consent_body(choices=choices, method="reject_all")).get_json()
    with app.app_context():
        record = db.session.get(ConsentRecord, body["record_id"])
        assert (record.expires_at - record.created_at).days == 182


def test_token_keeps_the_visitor_and_no_token_means_a_new_visitor(client, demo, consent_body):
    first = post(client, consent_body()).get_json()
    again = post(client, consent_body(token=first["token"], method="accept_all",
                                      choices=dict.fromkeys(demo.regime_categories("opt-in"), True))).get_json()
    assert again["visitor_id"] == first["visitor_id"]
    stranger = post(client, consent_body()).get_json()
    assert stranger["visitor_id"] != first["visitor_id"]


def test_client_record_id_is_idempotent(app, client, demo, consent_body):
    body = consent_body(client_record_id="offline-queue-0001")
    first = post(client, body)
    second = post(client, body)
    assert first.status_code == 201 and second.status_code == 200
    replay = second.get_json()
    assert replay["record_id"] == first.get_json()["record_id"] and replay["replayed"] is True
    # Without that visitor's token, a replay carries neither its token nor its visitor id.
    assert "token" not in replay and "visitor_id" not in replay
    # With it, the answer is the full one (the visitor's first answer was lost).
    again = post(client, {**body, "token": first.get_json()["token"]})
    assert again.status_code == 200 and again.get_json()["visitor_id"] == first.get_json()["visitor_id"]
    assert again.get_json()["token"]
    assert count_records(app) == 1
    with app.app_context():  # the replay wrote no second visitor key either
        assert db.session.execute(sa.select(sa.func.count()).select_from(VisitorKey)).scalar() == 1
    changed = post(client, consent_body(client_record_id="offline-queue-0001", method="reject_all",
                                        choices={c: c == "necessary" for c in demo.regime_categories("opt-in")}))
    assert changed.status_code == 409
    assert changed.get_json()["error"]["code"] == "client_record_id_conflict"
    assert count_records(app) == 1


def test_withdraw_needs_the_token_and_refuses_something(client, demo, consent_body):
    everything = dict.fromkeys(demo.regime_categories("opt-in"), True)
    accepted = post(client, consent_body(method="accept_all", choices=everything))
    token = accepted.get_json()["token"]
    withdrawn = post(client, consent_body(method="withdraw", token=token))
    assert withdrawn.status_code == 201
    assert withdrawn.get_json()["visitor_id"] == accepted.get_json()["visitor_id"]
    no_token = post(client, consent_body(method="withdraw"))
    assert no_token.get_json()["error"]["code"] == "withdraw_requires_token"


def test_preflight_is_allowed_for_site_origins_only(client, demo):
    ok = client.options(URL, headers={"Origin": DEMO_ORIGIN, "Access-Control-Request-Method": "POST"})
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == DEMO_ORIGIN
    assert "POST" in ok.headers["Access-Control-Allow-Methods"]
    denied = client.options(URL, headers={"Origin": "https://evil.example"})
    assert denied.status_code == 403 and "Access-Control-Allow-Origin" not in denied.headers


def test_stale_policy_version_is_a_conflict(app, client, demo, consent_body, tmp_path):
    from tests.support import DEMO_TOML, sync_demo

    changed = tmp_path / "demo.toml"
    changed.write_text(DEMO_TOML.read_text().replace('accept_all = "Accept all"', 'accept_all = "Accept every cookie"'))
    assert sync_demo(app, changed).version == 2
    response = post(client, consent_body(policy_version=1))
    assert response.status_code == 409
    assert response.get_json()["error"] == {
        "code": "stale_policy_version", "details": {"current": 2},
        "message": "policy version 1 has been replaced by 2; show the visitor the current one"}
    assert post(client, consent_body(policy_version=2)).status_code == 201


def _foreign_token(app, consent_body):
    """A token correctly signed by the service, but for another site."""
    from tests.support.tokens import issue, other_site_issuer

    return issue(other_site_issuer(app), visitor_id="01JAAAAAAAAAAAAAAAAAAAAAAA", granted=["necessary"],
                 record_id="x", expires_at=4102444800)


BAD_BODIES = [
    # (description, body changes or raw, expected status, expected code)
    ("unknown category", {"choices": {"necessary": True, "preferences": False, "analytics": True,
                                      "marketing": False, "spying": True}}, 400, "unknown_category"),
    ("missing category", {"choices": {"necessary": True, "analytics": True}}, 400, "missing_category"),
    ("necessary refused", {"choices": {"necessary": False, "preferences": False, "analytics": False,
                                       "marketing": False}, "method": "custom"}, 400, "necessary_required"),
    ("accept_all not all", {"method": "accept_all"}, 400, "method_mismatch"),
    ("reject_all granting", {"method": "reject_all"}, 400, "method_mismatch"),
    ("unknown method", {"method": "maybe"}, 422, "invalid_body"),
    ("string boolean", {"choices": {"necessary": "true", "preferences": False, "analytics": True,
                                    "marketing": False}}, 422, "invalid_body"),
    ("integer boolean", {"choices": {"necessary": 1, "preferences": 0, "analytics": 1,
                                     "marketing": 0}}, 422, "invalid_body"),
    ("choices not an object", {"choices": ["necessary"]}, 422, "invalid_body"),
    ("no choices", {"choices": {}}, 422, "invalid_body"),
    ("empty category name", {"choices": {"": True, "necessary": True}}, 422, "invalid_body"),
    ("over-long category name", {"choices": {"x" * 41: True, "necessary": True}}, 422, "invalid_body"),
    ("too many categories", {"choices": {f"c{n}": False for n in range(41)}}, 422, "invalid_body"),
    ("null boolean", {"choices": {"necessary": True, "preferences": None, "analytics": True,
                                  "marketing": False}}, 422, "invalid_body"),
    ("version as string", {"policy_version": "1"}, 422, "invalid_body"),
    ("version as bool", {"policy_version": True}, 422, "invalid_body"),
    ("version as float", {"policy_version": 1.5}, 422, "invalid_body"),
    ("version huge", {"policy_version": 10**30}, 422, "invalid_body"),
    ("future version", {"policy_version": 99}, 400, "unknown_policy_version"),
    ("unknown field", {"admin": True}, 422, "invalid_body"),
    ("over-long banner version", {"banner_version": "x" * 33}, 422, "invalid_body"),
    ("over-long page url", {"page_url": "https://shop.example/" + "a" * 3000}, 422, "invalid_body"),
    ("page url not http", {"page_url": "javascript:alert(1)"}, 400, "invalid_page_url"),
    ("unknown language", {"language": "xx"}, 400, "unknown_language"),
    ("bad client record id", {"client_record_id": "short"}, 422, "invalid_body"),
    ("client record id with quotes", {"client_record_id": "abc'def\"ghi;jkl--x"}, 422, "invalid_body"),
    ("forged token", {"token": "eyJzIjoiZGVtbyJ9.forgedsignature"}, 400, "invalid_token"),
    ("token is a number", {"token": 12345}, 422, "invalid_body"),
    ("missing method", {"method": None}, 422, "invalid_body"),
    # Hostile strings: nothing a database cannot store, a log line can be forged with, or UTF-8
    # cannot encode reaches the record, and none is a 500.
    ("NUL in banner version", {"banner_version": "a\u0000b"}, 422, "invalid_body"),
    ("lone surrogate as banner version", {"banner_version": "\ud800"}, 422, "invalid_body"),
    ("newline after banner version", {"banner_version": "1.0\n"}, 422, "invalid_body"),
    ("newline after client record id", {"client_record_id": "abcdefghijklmnop\n"}, 422, "invalid_body"),
    ("lone surrogate in page url", {"page_url": "http://a/\ud800"}, 422, "invalid_body"),
    ("NUL in page url", {"page_url": f"{DEMO_ORIGIN}/a\u0000b"}, 422, "invalid_body"),
    ("newline in page url", {"page_url": f"{DEMO_ORIGIN}/a\nb"}, 422, "invalid_body"),
    ("unclosed IPv6 host", {"page_url": "http://[::1"}, 400, "invalid_page_url"),
    ("bracketed host not IPv6", {"page_url": "http://[x]/"}, 400, "invalid_page_url"),
    ("port out of range", {"page_url": "http://127.0.0.1:99999/"}, 400, "invalid_page_url"),
    ("space in host", {"page_url": "http://a b/"}, 400, "invalid_page_url"),
    ("page of another origin", {"page_url": "https://evil.example/products"}, 400, "invalid_page_url"),
    ("lone surrogate as category", {"choices": {"\ud800": True, "necessary": True}}, 422, "invalid_body"),
    ("control character in language", {"language": "en\r"}, 422, "invalid_body"),
    ("lone surrogate in token", {"token": "\udfff"}, 422, "invalid_body"),
]


@pytest.mark.parametrize("description,changes,status,code", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_bodies_are_refused_and_store_nothing(app, client, demo, consent_body, description, changes,
                                                  status, code):
    body = consent_body(**changes)
    body = {k: v for k, v in body.items() if v is not None or k != "method"}
    response = post(client, body)
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]
    assert count_records(app) == 0


def test_foreign_site_token_is_refused(app, client, demo, consent_body):
    response = post(client, consent_body(token=_foreign_token(app, consent_body)))
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_token"
    assert count_records(app) == 0


RAW_BODIES = [
    ("malformed json", b'{"policy_version": 1,', "application/json", 400, "malformed_json"),
    ("deeply nested json", b"[" * 5000, "application/json", 400, "malformed_json"),
    ("not json at all", b"\xff\xfe\x00garbage", "application/json", 400, "malformed_json"),
    ("json array", b"[1, 2, 3]", "application/json", 422, "invalid_body"),
    ("json null", b"null", "application/json", 422, "invalid_body"),
    ("form encoded", b"policy_version=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ("no content type", b"{}", None, 415, "unsupported_media_type"),
    ("over the size limit", b'{"x": "' + b"a" * 20000 + b'"}', "application/json", 413, "payload_too_large"),
    ("NaN", b'{"policy_version": NaN}', "application/json", 422, "invalid_body"),
]


@pytest.mark.parametrize("description,raw,content_type,status,code", RAW_BODIES, ids=[b[0] for b in RAW_BODIES])
def test_raw_bad_requests(app, client, demo, description, raw, content_type, status, code):
    headers = dict(HEADERS)
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post(URL, data=raw, headers=headers)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert count_records(app) == 0


@pytest.mark.parametrize("origin", [None, "https://evil.example", "http://127.0.0.1:8000.evil.example", "null"])
def test_foreign_origin_is_forbidden(app, client, demo, consent_body, origin):
    headers = {"Origin": origin} if origin else {}
    response = client.post(URL, json=consent_body(), headers=headers)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "origin_not_allowed"
    assert count_records(app) == 0


@pytest.mark.parametrize("site", ["nope", "DEMO", "../etc", "a" * 200, "demo%00"])
def test_unknown_site(client, demo, consent_body, site):
    response = client.post(f"/v1/sites/{site}/consents", json=consent_body(), headers=HEADERS)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] in ("unknown_site", "not_found")


def test_wrong_http_method_is_json(client, demo):
    response = client.put(URL, json={})
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_existing_records_survive_bad_input(app, client, demo, consent_body):
    good = post(client, consent_body()).get_json()
    for _, changes, _, _ in BAD_BODIES:
        post(client, consent_body(**changes))
    with app.app_context():
        rows = db.session.execute(sa.select(ConsentRecord)).scalars().all()
        assert [row.id for row in rows] == [good["record_id"]]
        assert rows[0].digest == record_digest(rows[0])


def test_rate_limit_on_writes(make_app, consent_body):
    from tests.support import sync_demo

    app = make_app(RATE_LIMIT_WRITES="3/minute")
    sync_demo(app)
    client = app.test_client()
    statuses = [post(client, consent_body()).status_code for _ in range(5)]
    assert statuses == [201, 201, 201, 429, 429]
    limited = post(client, consent_body())
    assert limited.get_json()["error"]["code"] == "rate_limited"
    assert count_records(app) == 3


def test_client_ip_comes_through_trusted_proxies_only(make_app, consent_body):
    from tests.support import sync_demo

    for proxies, expected in (("0", "127.0.0.1"), ("1", "203.0.113.9")):
        app = make_app(TRUSTED_PROXIES=proxies)
        sync_demo(app)
        response = app.test_client().post(URL, json=consent_body(), headers={
            **HEADERS, "X-Forwarded-For": "198.51.100.1, 203.0.113.9"})
        with app.app_context():
            record = db.session.get(ConsentRecord, response.get_json()["record_id"])
            assert record.ip_hash == desensitize_ip(expected, "test-pepper")


def test_errors_carry_cors_headers_for_site_origins(client, demo, consent_body):
    refused = post(client, consent_body(method="accept_all"))
    assert refused.status_code == 400
    assert refused.headers["Access-Control-Allow-Origin"] == DEMO_ORIGIN
    malformed = client.post(URL, data=b"{", headers={**HEADERS, "Content-Type": "application/json"})
    assert malformed.headers["Access-Control-Allow-Origin"] == DEMO_ORIGIN
    foreign = client.post(URL, json=consent_body(), headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in foreign.headers


def test_a_client_record_id_is_no_password(app, client, demo, consent_body):
    """Issue #10, point 3: replaying a victim's client_record_id (it is in every export line) with the
    same choice, without a token or with the attacker's own, yields no token of the victim's."""
    victim = post(client, consent_body(client_record_id="victim-record-0001")).get_json()
    accepted = consent_body(method="accept_all", choices=dict.fromkeys(demo.regime_categories("opt-in"), True),
                            client_record_id="victim-record-0002", token=victim["token"])
    assert post(client, accepted).status_code == 201
    stolen = {key: value for key, value in accepted.items() if key != "token"}
    replay = post(client, stolen)
    assert replay.status_code == 200 and replay.get_json()["replayed"] is True
    assert "token" not in replay.get_json() and victim["visitor_id"] not in replay.get_data(as_text=True)
    attacker = post(client, consent_body()).get_json()
    other = post(client, {**stolen, "token": attacker["token"]})
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "client_record_id_conflict"
    assert victim["visitor_id"] not in other.get_data(as_text=True)
    history = client.get("/v1/sites/demo/visitors/me/consents", headers={"X-Consent-Token": attacker["token"]})
    assert history.status_code == 200 and history.get_json()["visitor_id"] == attacker["visitor_id"]
    assert count_records(app) == 3


def test_page_url_keeps_scheme_host_and_path_only(app, client, demo, consent_body):
    """No user:password, query or fragment is stored; the origin is normalized as browsers send it."""
    body = post(client, consent_body(page_url="HTTP://alice:secret@127.0.0.1:8000/cart?card=4111#pay")).get_json()
    with app.app_context():
        record = db.session.get(ConsentRecord, body["record_id"])
        stored = db.session.get(VisitorKey, body["visitor_id"]).key
        key = open_key(app.extensions["consent"].keyring, "demo", body["visitor_id"], stored)
        assert decrypt_field(key, record.id, "page_url", record.page_url) == f"{DEMO_ORIGIN}/cart"
