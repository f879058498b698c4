"""The scanner against the fixture shop (tests/scan/site.py) in headless Chromium: it finds every
planted cookie and storage key, in the right states, with the right source and setter, and nothing
else; and every kind of finding comes out of it."""

from __future__ import annotations

from typing import Any

import pytest

from consent_service.scan import ACCEPT, BEFORE, REJECT, ScanError
from consent_service.scan.findings import KINDS

from .conftest import ScanSite, run_scan
from .site import SITE_ID

pytestmark = pytest.mark.slow
EVERY = {BEFORE, REJECT, ACCEPT}
CHOSEN = {REJECT, ACCEPT}
PAGES = ["/", "/products", "/landing", "/privacy", "/about"]


def expected_cookies(site: ScanSite) -> dict[tuple[str, str], tuple[set[str], str, str, set[str]]]:
    """(name, domain) -> (states, source, set_by, pages) for every cookie the fixture plants."""
    shop, video, every_page = site.shop_url, site.hosts["video"], {site.shop_url + p for p in PAGES}
    products = {shop + "/products"}
    return {
        ("sid", "localhost"): (EVERY, "http", shop + "/", every_page),
        ("lang_pref", "localhost"): ({ACCEPT}, "http", shop + "/", every_page),
        ("cart", "localhost"): (EVERY, "http", shop + "/cart/add", products),
        ("consent", "localhost"): (CHOSEN, "script", f"{site.service_url}/v1/sites/{SITE_ID}/banner.js", every_page),
        ("_ga", "localhost"): ({ACCEPT}, "script", site.hosts["stats"] + "/analytics.js", every_page),
        ("_fbp", "localhost"): (EVERY, "script", site.hosts["ads"] + "/fbevents.js", every_page),
        ("ab_bucket", "localhost"): (EVERY, "script", shop + "/", every_page),
        ("VISITOR_INFO1_LIVE", "127.0.0.2"): (EVERY, "http", video + "/embed", products),
        ("YSC", "127.0.0.2"): (EVERY, "script", video + "/embed.js", products),
    }


def expected_storage(site: ScanSite) -> dict[tuple[str, str], tuple[set[str], str]]:
    """(type, name) -> (states, set_by); all on the shop's origin, on every page."""
    app = site.shop_url + "/static/app.js"
    return {
        ("localStorage", "ui_theme"): (EVERY, app),
        ("sessionStorage", "checkout_step"): (EVERY, app),
        ("indexedDB", "analytics_queue"): ({ACCEPT}, site.hosts["stats"] + "/analytics.js"),
        ("localStorage", f"consent:{SITE_ID}:queue"): (CHOSEN, f"{site.service_url}/v1/sites/{SITE_ID}/banner.js"),
    }


EXPECTED_FINDINGS = {
    ("undeclared", "_fbp", BEFORE), ("undeclared", "ab_bucket", BEFORE), ("undeclared", "YSC", BEFORE),
    ("undeclared", "analytics_queue", ACCEPT),
    *{("before_consent", name, BEFORE) for name in ("_fbp", "ab_bucket", "YSC", "VISITOR_INFO1_LIVE", "ui_theme")},
    *{("after_refusal", name, REJECT) for name in ("_fbp", "ab_bucket", "YSC", "VISITOR_INFO1_LIVE", "ui_theme")},
    ("third_party_before_consent", "127.0.0.2", BEFORE), ("third_party_before_consent", "127.0.0.3", BEFORE),
    ("category_mismatch", "_ga", ACCEPT),
    ("declared_unseen", "legacy_promo", None),
}


def test_every_planted_cookie_in_its_states_and_nothing_else(full_scan: Any, scan_site: ScanSite) -> None:
    expected = expected_cookies(scan_site)
    found = {(e.name, e.domain, e.state) for e in full_scan.cookies}
    wanted = {(name, domain, state) for (name, domain), (states, *_) in expected.items() for state in states}
    assert found == wanted, f"invented: {found - wanted}; missed: {wanted - found}"


@pytest.mark.parametrize("name", ["sid", "lang_pref", "cart", "consent", "_ga", "_fbp", "ab_bucket",
                                  "VISITOR_INFO1_LIVE", "YSC"])
def test_each_cookie_has_its_source_setter_and_pages(full_scan: Any, scan_site: ScanSite, name: str) -> None:
    (domain, (states, source, set_by, pages)), = [(d, v) for (n, d), v in expected_cookies(scan_site).items()
                                                  if n == name]
    for entry in (e for e in full_scan.cookies if e.name == name):
        assert (entry.source, entry.set_by, entry.attribution) == (source, set_by, "observed"), entry.state
        assert set(entry.pages) == pages, entry.state
        assert entry.third_party == (domain != "localhost")


def test_a_cookie_set_by_two_responses_lists_both(full_scan: Any, scan_site: ScanSite) -> None:
    """sid comes with every page and, on /products, again with the add-to-cart answer."""
    sid = next(e for e in full_scan.cookies if e.name == "sid" and e.state == BEFORE)
    assert sid.http_only and sid.lifetime_seconds is None
    assert sid.also_set_by == (scan_site.shop_url + "/cart/add",)


def test_every_storage_key_and_database_and_nothing_else(full_scan: Any, scan_site: ScanSite) -> None:
    expected = expected_storage(scan_site)
    found = {(e.type, e.name, e.state) for e in full_scan.storage}
    wanted = {(kind, name, state) for (kind, name), (states, _) in expected.items() for state in states}
    assert found == wanted, f"invented: {found - wanted}; missed: {wanted - found}"
    every_page = {scan_site.shop_url + p for p in PAGES}
    for entry in full_scan.storage:
        _, set_by = expected[(entry.type, entry.name)]
        assert (entry.origin, entry.set_by, entry.attribution) == (scan_site.shop_url, set_by, "observed")
        assert set(entry.pages) == every_page
    queue = next(e for e in full_scan.storage if e.name == f"consent:{SITE_ID}:queue")
    assert queue.classification.builtin and queue.classification.category == "necessary"


def test_third_party_hosts_per_state(full_scan: Any, scan_site: ScanSite) -> None:
    hosts = {(h.host, h.state) for h in full_scan.third_parties}
    before = {"127.0.0.1", "127.0.0.2", "127.0.0.3"}
    assert hosts == {(h, s) for s in EVERY for h in before} | {("127.0.0.4", ACCEPT)}, \
        "the held-back analytics host is requested after accept only"
    service = [h for h in full_scan.third_parties if h.host == "127.0.0.1"]
    assert all(h.consent_service for h in service)
    video = next(h for h in full_scan.third_parties if h.host == "127.0.0.2" and h.state == BEFORE)
    assert video.pages == [scan_site.shop_url + "/products"] and "document" in video.resource_types


def test_every_finding_kind_and_nothing_else(full_scan: Any) -> None:
    found = {(f.kind, f.name, f.state) for f in full_scan.findings}
    assert found == EXPECTED_FINDINGS, f"unexpected: {found - EXPECTED_FINDINGS}; missing: {EXPECTED_FINDINGS - found}"
    assert {f.kind for f in full_scan.findings} == set(KINDS)
    assert full_scan.exit_code == 1


def test_findings_are_one_per_item_however_many_pages(full_scan: Any, scan_site: ScanSite) -> None:
    fbp = [f for f in full_scan.findings if f.name == "_fbp" and f.kind == "before_consent"]
    assert len(fbp) == 1 and len(fbp[0].pages) == len(PAGES) and fbp[0].page == scan_site.shop_url + "/"
    levels = {f.kind: f.level for f in full_scan.findings}
    assert levels == {"undeclared": "error", "before_consent": "error", "after_refusal": "error",
                      "third_party_before_consent": "error", "category_mismatch": "warning",
                      "declared_unseen": "info"}
    mismatch = next(f for f in full_scan.findings if f.kind == "category_mismatch")
    assert (mismatch.declared_category, mismatch.known_category) == ("preferences", "analytics")


def test_pages_come_from_links_and_the_sitemap_and_every_choice_from_the_banner(full_scan: Any,
                                                                                 scan_site: ScanSite) -> None:
    found_by = {page["url"]: page["found_by"] for page in full_scan.pages}
    shop = scan_site.shop_url
    assert found_by == {shop + "/": "start", shop + "/products": "sitemap", shop + "/landing": "sitemap",
                        shop + "/privacy": "link", shop + "/about": "link"}
    for page in full_scan.pages:
        assert set(page["states"]) == EVERY
        for state, info in page["states"].items():
            assert info["status"] == 200 and info["banner_shown"] and not info["error"], (page["url"], state)
            assert info["choice"] == (None if state == BEFORE else "button")
            assert info["consent_cookie"] == (state != BEFORE)
    assert full_scan.notes == []
    assert len(full_scan.visits) == 3 * len(PAGES)


def test_without_the_interaction_the_cart_cookie_is_never_seen(scan_site: ScanSite, chromium: str) -> None:
    """And with third-party cookies blocked, the video host's cookies go too (partitioned storage aside)."""
    result = run_scan([scan_site.shop_url + "/products"], config=scan_site.config, max_pages=1, sitemap=False,
                      third_party_cookies=False, screenshots="none")
    names = {e.name for e in result.cookies}
    assert "cart" not in names and not {"VISITOR_INFO1_LIVE", "YSC"} & names
    assert {"sid", "_fbp", "ab_bucket"} <= names
    unseen = {f.name for f in result.findings if f.kind == "declared_unseen"}
    assert {"cart", "legacy_promo", "VISITOR_INFO1_LIVE"} <= unseen
    assert [p["url"] for p in result.pages] == [scan_site.shop_url + "/products"]


def test_a_banner_whose_buttons_have_other_texts_is_driven_through_its_api(scan_site: ScanSite,
                                                                           chromium: str) -> None:
    config = {**scan_site.config, "texts": {lang: {**texts, "accept_all": "Yes to all", "reject_all": "No thanks"}
                                            for lang, texts in scan_site.config["texts"].items()}}
    result = run_scan([scan_site.shop_url + "/about"], config=config, max_pages=1, sitemap=False,
                      screenshots="none")
    states = result.pages[0]["states"]
    assert (states[REJECT]["choice"], states[ACCEPT]["choice"]) == ("api", "api")
    assert any("window.consent API" in note for note in result.notes)
    accepted = {e.name for e in result.cookies if e.state == ACCEPT}
    rejected = {e.name for e in result.cookies if e.state == REJECT}
    assert {"_ga", "lang_pref", "consent"} <= accepted
    assert "consent" in rejected and not {"_ga", "lang_pref"} & rejected


def test_an_unreachable_start_url_cannot_be_scanned(scan_site: ScanSite, chromium: str) -> None:
    from tests.support import free_port

    with pytest.raises(ScanError, match="cannot reach http://127.0.0.1:"):
        run_scan([f"http://127.0.0.1:{free_port()}/"], config=scan_site.config, sitemap=False)


def test_a_start_page_without_the_banner_cannot_be_scanned(scan_site: ScanSite, chromium: str) -> None:
    with pytest.raises(ScanError, match="banner not found on .*/no-banner"):
        run_scan([scan_site.shop_url + "/no-banner"], config=scan_site.config, sitemap=False)


def test_the_reports_of_the_fixture_scan(full_scan: Any, scan_site: ScanSite, tmp_path: Any) -> None:
    import json
    import tomllib

    from consent_service.scan import write_html, write_json

    from .site import VALUE

    write_json(full_scan, tmp_path / "scan.json", scan_site.config)
    write_html(full_scan, tmp_path / "scan.html", scan_site.config)
    text = (tmp_path / "scan.json").read_text(encoding="utf-8")
    page = (tmp_path / "scan.html").read_text(encoding="utf-8")
    assert VALUE not in text and VALUE not in page, "a cookie or storage value reached a report"
    document = json.loads(text)
    assert {(c["name"], c["state"]) for c in document["cookies"]} == {(e.name, e.state) for e in full_scan.cookies}
    assert document["summary"]["visits"] == 15 and document["summary"]["exit_code"] == 1
    assert page.count("data:image/png;base64,") == 3, "a screenshot of the first page in each state"
    snippets = tomllib.loads(document["declarations_to_add"])["cookies"]
    assert sorted(c["name"] for c in snippets) == ["YSC", "_fbp", "ab_bucket", "analytics_queue"]
    assert document["declarations_to_add"] in page.replace("&quot;", '"').replace("&#x27;", "'")
