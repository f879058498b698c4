"""The visitor's regime over HTTP: the region comes only from the operator's trusted header, picks the
regime whose categories, defaults, texts and policy version the banner shows and the choice is checked
against, and every record, token, export, history, receipt and statistic carries it."""

from __future__ import annotations

import json

import pytest

from consent_service.extensions import db
from consent_service.models import ConsentRecord
from consent_service.tokens import PublicKeys, TokenVerifier
from tests.support import DEMO_ORIGIN, sync_demo
from tests.support.compliance import bearer, check, seal_all

URL = "/v1/sites/demo/consents"
HEADER = "CF-IPCountry"
SUBDIVISION = "CF-Region-Code"


@pytest.fixture
def app(make_app):
    return make_app(REGION_COUNTRY_HEADER=HEADER, REGION_SUBDIVISION_HEADER=SUBDIVISION)


def region(country, subdivision=None):
    headers = {"Origin": DEMO_ORIGIN, "User-Agent": "Mozilla/5.0 test", HEADER: country}
    if subdivision:
        headers[SUBDIVISION] = subdivision
    return headers


def body(version=1, **choices):
    base = {"necessary": True, "preferences": False, "analytics": False, "marketing": False}
    return {"policy_version": version, "choices": {**base, **choices}, "method": "custom", "language": "en",
            "page_url": f"{DEMO_ORIGIN}/", "banner_version": "test"}


def stored(app, record_id):
    with app.app_context():
        row = db.session.get(ConsentRecord, record_id)
        return row.regime, row.region, row.regime_version, row.method, dict(row.choices), row.gpc


def claims(client, token):
    jwks = client.get("/v1/sites/demo/jwks.json").get_json()
    return TokenVerifier("demo", PublicKeys.from_jwks(jwks)).claims(token)


def test_config_answers_for_the_visitors_regime(app, client):
    sync_demo(app)
    configs = {name: client.get("/v1/sites/demo/config", headers=region(*name)) for name in
               [("FR",), ("GB",), ("US", "CA"), ("CN",), ("XX",)]}
    for response in configs.values():
        assert response.status_code == 200
        assert {HEADER, SUBDIVISION} <= set(response.vary) and response.headers["ETag"]
    regimes = {name: response.get_json()["regime"] for name, response in configs.items()}
    assert regimes[("FR",)] == {"id": "opt-in", "before": []}
    assert regimes[("XX",)] == regimes[("FR",)]  # unknown region: the default
    assert regimes[("GB",)] == {"id": "uk", "before": ["analytics", "preferences"]}
    assert regimes[("US", "CA")] == {"id": "us-opt-out", "before": ["analytics", "marketing", "preferences"],
                                     "layer": "link", "gpc": ["marketing"], "gpc_display": True}
    china = configs[("CN",)].get_json()
    assert [c["id"] for c in china["categories"]][-2:] == ["cross_border_transfer", "third_party_sharing"]
    assert "cross_border_transfer" not in [c["id"] for c in configs[("FR",)].get_json()["categories"]]
    assert china["texts"]["en"]["separate_title"]
    us = configs[("US", "CA")].get_json()["texts"]["en"]
    assert us["privacy_choices"] == "Your privacy choices" and us["gpc_honoured"] == "Opt-Out Request Honored"
    etags = {response.headers["ETag"] for name, response in configs.items() if name != ("XX",)}
    assert len(etags) == 4
    # banner.js too: one script per regime, its ETag per regime, Vary on the headers.
    scripts = {name: client.get("/v1/sites/demo/banner.js", headers=region(*name)) for name in [("FR",), ("CN",)]}
    assert scripts[("FR",)].headers["ETag"] != scripts[("CN",)].headers["ETag"]
    assert HEADER in scripts[("FR",)].headers["Vary"] and b"cross_border_transfer" in scripts[("CN",)].data
    assert b"cross_border_transfer" not in scripts[("FR",)].data


def test_records_and_tokens_carry_regime_and_region(app, client):
    sync_demo(app)
    made = client.post(URL, json=body(analytics=True), headers=region("US", "CA")).get_json()
    assert made["regime"] == "us-opt-out" and made["region"] == "US-CA"
    assert stored(app, made["record_id"])[:3] == ("us-opt-out", "US-CA", 1)
    assert claims(client, made["token"]).regime == "us-opt-out"
    # No header: no region, the default regime.
    plain = client.post(URL, json=body(), headers={"Origin": DEMO_ORIGIN}).get_json()
    assert stored(app, plain["record_id"])[:3] == ("opt-in", None, 1)


def test_a_spoofed_region_in_query_or_body_changes_nothing(app, client):
    sync_demo(app)
    spoofed = client.post(URL + "?region=US-CA&country=US", json=body(), headers=region("FR")).get_json()
    assert stored(app, spoofed["record_id"])[:2] == ("opt-in", "FR")
    refused = client.post(URL, json={**body(), "region": "US-CA"}, headers=region("FR"))
    assert refused.status_code == 422  # the body is strictly validated: nothing is stored
    config = client.get("/v1/sites/demo/config?region=US-CA", headers=region("FR")).get_json()
    assert config["regime"]["id"] == "opt-in"


def test_china_separate_purposes_are_their_own_choices(app, client):
    sync_demo(app)
    accept_rest = {**body(preferences=True, analytics=True, marketing=True, cross_border_transfer=False,
                          third_party_sharing=False), "method": "accept_all"}
    made = client.post(URL, json=accept_rest, headers=region("CN"))
    assert made.status_code == 201, made.get_json()
    assert stored(app, made.get_json()["record_id"])[4] == {
        "necessary": True, "preferences": True, "analytics": True, "marketing": True,
        "cross_border_transfer": False, "third_party_sharing": False}
    both = {**accept_rest, "choices": {**accept_rest["choices"], "cross_border_transfer": True}}
    assert client.post(URL, json=both, headers=region("CN")).status_code == 201
    # The purposes must be answered in China, and do not exist elsewhere.
    assert client.post(URL, json=body(), headers=region("CN")).get_json()["error"]["code"] == "missing_category"
    elsewhere = client.post(URL, json=body(cross_border_transfer=True), headers=region("FR"))
    assert elsewhere.get_json()["error"]["code"] == "unknown_category"


def test_gpc_in_california_is_recorded_as_an_opt_out(app, client):
    sync_demo(app)
    opt_out = {**body(preferences=True, analytics=True, marketing=False), "method": "gpc"}
    made = client.post(URL, json=opt_out, headers={**region("US", "CA"), "Sec-GPC": "1"})
    assert made.status_code == 201, made.get_json()
    regime, place, _, method, choices, gpc = stored(app, made.get_json()["record_id"])
    assert (regime, place, method, gpc, choices["marketing"]) == ("us-opt-out", "US-CA", "gpc", True, False)
    # Only with the signal, only where it is an opt-out, only refusing advertising.
    assert client.post(URL, json=opt_out, headers=region("US", "CA")).get_json()["error"]["code"] == "method_mismatch"
    assert client.post(URL, json=opt_out, headers={**region("FR"), "Sec-GPC": "1"}).status_code == 400
    granting = {**opt_out, "choices": {**opt_out["choices"], "marketing": True}}
    assert client.post(URL, json=granting, headers={**region("US", "CA"), "Sec-GPC": "1"}).status_code == 400


def test_a_change_to_one_regimes_texts_asks_only_its_visitors_again(app, client, tmp_path):
    sync_demo(app)
    french = client.post(URL, json=body(analytics=True), headers=region("FR")).get_json()
    californian = client.post(URL, json=body(analytics=True), headers=region("US", "CA")).get_json()
    from tests.support import DEMO_TOML

    changed = tmp_path / "demo.toml"
    changed.write_text(DEMO_TOML.read_text(encoding="utf-8").replace(
        'privacy_choices = "Your privacy choices"', 'privacy_choices = "Your Privacy Choices"'), encoding="utf-8")
    state = sync_demo(app, changed)
    assert state.version == 2 and state.regime_version("us-opt-out") == 2 and state.regime_version("opt-in") == 1
    assert client.get("/v1/sites/demo/config", headers=region("FR")).get_json()["policy_version"] == 1
    assert client.get("/v1/sites/demo/config", headers=region("US", "CA")).get_json()["policy_version"] == 2
    headers = bearer(app, "read")
    standing = {name: client.get(f"/v1/sites/demo/visitors/{made['visitor_id']}/consent", headers=headers).get_json()
                for name, made in (("FR", french), ("US-CA", californian))}
    assert standing["FR"]["status"] == "valid" and standing["US-CA"]["status"] == "outdated"
    assert standing["FR"]["regime"] == "opt-in"
    # The Californian's old version is stale; the French visitor may still answer under version 1.
    stale = client.post(URL, json=body(1), headers=region("US", "CA"))
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "stale_policy_version"
    assert client.post(URL, json=body(1), headers=region("FR")).status_code == 201
    again = client.post(URL, json=body(2), headers=region("US", "CA")).get_json()
    assert stored(app, again["record_id"])[:3] == ("us-opt-out", "US-CA", 2)
    assert claims(client, again["token"]).policy_version == 2


def test_exports_history_receipts_stats_and_seals_show_it(app, client):
    sync_demo(app)
    made = client.post(URL, json=body(analytics=True), headers=region("GB")).get_json()
    client.post(URL, json=body(), headers=region("CN")).get_json()  # missing purposes: refused, not stored
    lines = client.get("/v1/sites/demo/exports/consents?format=ndjson", headers=bearer(app, "export"))
    rows = [json.loads(line) for line in lines.get_data(as_text=True).splitlines() if line.strip()]
    record = next(row for row in rows if row.get("id") == made["record_id"])
    assert (record["regime"], record["region"], record["regime_version"]) == ("uk", "GB", 1)
    mine = {"Origin": DEMO_ORIGIN, "X-Consent-Token": made["token"]}
    history = client.get("/v1/sites/demo/visitors/me/consents", headers=mine).get_json()
    assert (history["records"][0]["regime"], history["records"][0]["region"]) == ("uk", "GB")
    seal_all(app)
    receipt = client.get("/v1/sites/demo/visitors/me/receipts", headers=mine).get_json()["receipts"][0]
    assert receipt["consent"]["jurisdiction"] == "uk"
    assert check(app).ok
    stats = client.get("/v1/sites/demo/stats?interval=day", headers=bearer(app, "read")).get_json()
    day = next(interval for interval in stats["intervals"] if interval["total"])
    assert day["by_regime"]["uk"]["total"] == 1 and day["by_regime"]["uk"]["opt_in_rate"]["analytics"] == 1.0
