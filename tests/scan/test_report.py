"""The JSON and HTML reports and the declarations to paste, from a hand-made scan result: the shape
readers rely on, nothing from the scanned site unescaped, TOML that `sites sync` reads."""

from __future__ import annotations

import json
import tomllib

import pytest

from consent_service.scan import changes, render_html, to_json
from consent_service.scan.classify import Classifier
from consent_service.scan.cookie_database import CookieDatabase
from consent_service.scan.findings import find
from consent_service.scan.model import ACCEPT, BEFORE, REJECT, Entry, HostEntry, ScanResult, Visit
from consent_service.scan.snippets import declaration_snippets, human_lifetime
from consent_service.sites.declaration import DECLARATION_TEXT_KEYS, SiteFileError, parse_declaration

EVIL = '<img src=x onerror="alert(1)">'
CSV = ("ID,Platform,Category,Cookie / Data Key name,Domain,Description,Retention period,Data Controller,"
       "User Privacy & GDPR Rights Portals,Wildcard match\n"
       '2,Facebook,Marketing,_fbp,,"Used by Facebook ""to"" deliver ads",4 months,Facebook,,0\n'
       "3,Youtube,Functional,YSC,,Video statistics,session,Google,,0\n")
TEXTS = {"title": "t", "description": "d", "accept_all": "Accept all", "reject_all": "Reject all",
         "customize": "c", "save": "s", "close": "x", "settings": "s", "preferences_title": "p", "always_on": "a",
         "gpc_notice": "g", "download_record": "d", "erase_data": "e", "download_receipts": "r", "privacy_policy": "p",
         "declaration": {key: key for key in DECLARATION_TEXT_KEYS}}
CATEGORIES = ("necessary", "preferences", "analytics", "marketing")
RAW = {
    "site": {"id": "shop", "name": "Shop", "origins": ["https://shop.example"], "default_language": "en",
             "languages": ["en", "zh-CN"]},
    "categories": {"necessary": {"required": True}, "preferences": {}, "analytics": {}, "marketing": {}},
    "cookies": [{"name": "sid", "category": "necessary", "provider": "Shop", "lifetime": "session",
                 "purpose": {"en": "Session.", "zh-CN": "会话。"}}],
    "texts": {lang: {**TEXTS, "categories": {c: {"title": c, "description": c} for c in CATEGORIES}}
              for lang in ("en", "zh-CN")},
}
CONFIG = {"site": "shop", "languages": ["en", "zh-CN"], "default_language": "en", "cookie": {"name": "consent"},
          "categories": [{"id": c} for c in CATEGORIES], "cookies": RAW["cookies"], "texts": RAW["texts"]}
CLASSIFIER = Classifier(CONFIG, CookieDatabase.from_csv(CSV))
PAGE = "https://shop.example/"


def cookie(name: str, state: str, **extra: object) -> Entry:
    fields = {"type": "cookie", "name": name, "domain": "shop.example", "state": state, "pages": [PAGE],
              "source": "script", "set_by": "https://ads.example/p.js", "attribution": "observed",
              "classification": CLASSIFIER.classify(name), "lifetime_seconds": 90 * 86400, **extra}
    return Entry(**fields)


@pytest.fixture
def result() -> ScanResult:
    cookies = [cookie("sid", BEFORE, source="http", set_by=PAGE, lifetime_seconds=None, http_only=True),
               cookie("_fbp", BEFORE), cookie("_fbp", REJECT), cookie("YSC", ACCEPT, domain="video.example"),
               cookie(EVIL, BEFORE, set_by=f"https://shop.example/?q={EVIL}", pages=[PAGE + "?<b>"])]
    storage = [Entry(type="localStorage", name="consent:shop:queue", domain="shop.example", state=REJECT,
                     pages=[PAGE], source="script", set_by="https://consent.example/banner.js",
                     attribution="observed", classification=CLASSIFIER.classify("consent:shop:queue", storage=True),
                     origin="https://shop.example"),
               Entry(type="indexedDB", name="queue db", domain="shop.example", state=ACCEPT, pages=[PAGE],
                     source="script", set_by=None, attribution="inferred",
                     classification=CLASSIFIER.classify("queue db", storage=True), origin="https://shop.example")]
    hosts = [HostEntry("ads.example", BEFORE, [PAGE], ["https://ads.example/p.js"], ["script"], 1)]
    visit = Visit(page=PAGE, state=BEFORE, screenshot=b"\x89PNG fake", notes=[EVIL])
    return ScanResult(site="shop", policy_version=3, service="https://consent.example", start_urls=[PAGE],
                      started_at=1_800_000_000.0, finished_at=1_800_000_030.0, settings={"max_pages": 5},
                      pages=[{"url": PAGE, "found_by": "start", "states": {BEFORE: {
                          "status": 200, "final_url": PAGE, "banner_shown": True, "choice": None,
                          "choice_page": None, "consent_cookie": False, "error": None, "notes": [], "seconds": 1.0}}}],
                      visits=[visit], cookies=cookies, storage=storage, third_parties=hosts,
                      findings=find(cookies + storage, hosts, CLASSIFIER), notes=[EVIL], browser_version="156")


def test_json_top_level_and_item_fields(result: ScanResult) -> None:
    document = json.loads(json.dumps(to_json(result, CONFIG)))
    assert list(document)[:2] == ["format", "site"]
    assert {"cookies", "findings", "storage", "third_parties", "pages", "summary", "scanned_at", "settings",
            "declarations_to_add", "database"} <= set(document)
    assert document["scanned_at"] == "2027-01-15T08:00:00Z"
    for item in document["cookies"]:
        assert {"name", "domain", "state", "source", "set_by", "category", "declared"} <= set(item)
    for item in document["findings"]:
        assert {"kind", "name", "domain", "state", "page", "level", "message"} <= set(item)
    assert [c["state"] for c in document["cookies"]] == sorted((c["state"] for c in document["cookies"]),
                                                               key=[BEFORE, REJECT, ACCEPT].index)
    summary = document["summary"]
    assert summary["visits"] == 1 and summary["visits_per_minute"] == 2.0 and summary["exit_code"] == 1
    assert summary["cookies"] == {BEFORE: 3, REJECT: 1, ACCEPT: 1}
    assert summary["findings"]["by_kind"]["undeclared"] == 4  # _fbp, YSC, the evil name, the database
    sid = next(c for c in document["cookies"] if c["name"] == "sid")
    assert sid["session"] and sid["http_only"] and sid["declared"] and sid["lifetime_seconds"] is None


def test_html_escapes_everything_from_the_site(result: ScanResult) -> None:
    page = render_html(result, CONFIG)
    assert "<img src=x" not in page and 'onerror="' not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert "?<b>" not in page and "<script" not in page.lower()
    assert page.count('id="before"') == page.count('id="reject"') == page.count('id="accept"') == 1
    assert 'src="data:image/png;base64,iVBORyBmYWtl"' in page
    assert "Open Cookie Database" in page and "Apache License 2.0" in page


def test_declarations_to_paste(result: ScanResult) -> None:
    text = declaration_snippets(result, CONFIG)
    parsed = tomllib.loads(text)["cookies"]
    assert [c["name"] for c in parsed] == ["YSC", "_fbp"]  # the evil name cannot be declared: commented out
    fbp = parsed[1]
    assert fbp == {"name": "_fbp", "category": "marketing", "provider": "Facebook", "lifetime": "3 months",
                   "purpose": {"en": 'Used by Facebook "to" deliver ads', "zh-CN": 'Used by Facebook "to" deliver ads'}}
    assert "# <img src=x" in text and "cannot be declared as is" in text
    assert "queue db" in text and "consent:shop:queue" not in text
    # A block the database settles is accepted as is; one it leaves open is refused until decided.
    parse_declaration({**RAW, "cookies": RAW["cookies"] + [fbp]})
    with pytest.raises(SiteFileError, match="'review' is not declared"):
        parse_declaration({**RAW, "cookies": RAW["cookies"] + [parsed[0]]})


def test_unknown_items_leave_category_and_purpose_to_the_owner() -> None:
    entry = Entry(type="cookie", name="ab_bucket", domain="shop.example", state=BEFORE, pages=[PAGE], source="script",
                  set_by=PAGE, attribution="observed", classification=CLASSIFIER.classify("ab_bucket"),
                  lifetime_seconds=30 * 86400)
    result = ScanResult("shop", 1, None, [PAGE], 0, 1, {}, [], [], [entry], [], [], [])
    (block,) = tomllib.loads(declaration_snippets(result, CONFIG))["cookies"]
    assert block == {"name": "ab_bucket", "category": "unknown", "provider": "shop.example", "lifetime": "30 days",
                     "purpose": {"en": "", "zh-CN": ""}}
    with pytest.raises(SiteFileError):
        parse_declaration({**RAW, "cookies": [block]})


@pytest.mark.parametrize(("seconds", "text"), [(None, "session"), (1800, "1 hour"), (7200, "2 hours"),
                                               (86400, "1 day"), (30 * 86400, "30 days"), (400 * 86400, "13 months"),
                                               (730 * 86400, "2 years")])
def test_human_lifetime(seconds: int | None, text: str) -> None:
    assert human_lifetime(seconds) == text


def test_what_changed_between_two_scans(result: ScanResult) -> None:
    old = to_json(result)
    new = json.loads(json.dumps(old))
    new["cookies"] = [c for c in new["cookies"] if c["name"] != "YSC"] + [{**new["cookies"][0], "name": "fresh"}]
    new["findings"] = [f for f in new["findings"] if f["name"] != "YSC"]
    diff = changes(old, new)
    assert [c["name"] for c in diff["cookies"]["added"]] == ["fresh"]
    assert [c["name"] for c in diff["cookies"]["removed"]] == ["YSC"]
    assert {f["name"] for f in diff["findings"]["resolved"]} == {"YSC"} and diff["findings"]["new"] == []
    assert diff["changed"] and not changes(old, old)["changed"]
    assert len(changes(None, old)["cookies"]["added"]) == len(old["cookies"])
