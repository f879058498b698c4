"""Each kind of finding from hand-made entries: when it fires, at what level, once per item."""

from __future__ import annotations

from consent_service.scan.classify import Classifier
from consent_service.scan.cookie_database import CookieDatabase
from consent_service.scan.findings import KINDS, LEVELS, find
from consent_service.scan.model import ACCEPT, BEFORE, REJECT, Entry, Finding, HostEntry, ScanResult

CSV = ("ID,Platform,Category,Cookie / Data Key name,Domain,Description,Retention period,Data Controller,"
       "User Privacy & GDPR Rights Portals,Wildcard match\n"
       "1,Google Analytics,Analytics,_ga,,ID,2 years,Google,,0\n"
       "2,Facebook,Marketing,_fbp,,Ads,4 months,Facebook,,0\n"
       "3,Youtube,Functional,YSC,,Video,session,Google,,0\n")
CONFIG = {"site": "shop", "cookie": {"name": "consent"},
          "cookies": [{"name": "sid", "category": "necessary"}, {"name": "_ga", "category": "preferences"},
                      {"name": "theme", "category": "preferences"}, {"pattern": "old_*", "category": "marketing"},
                      {"name": "_fbp", "category": "analytics"}]}
CLASSIFIER = Classifier(CONFIG, CookieDatabase.from_csv(CSV))
PAGES = ["https://shop.example/", "https://shop.example/a"]


def entry(name: str, state: str, pages: list[str] = PAGES, kind: str = "cookie") -> Entry:
    classification = CLASSIFIER.classify(name, storage=kind != "cookie")
    return Entry(type=kind, name=name, domain="shop.example", state=state, pages=list(pages), source="script",
                 set_by=None, attribution="inferred", classification=classification,
                 origin=None if kind == "cookie" else "https://shop.example")


def kinds(findings: list[Finding]) -> set[tuple[str, str, str | None]]:
    return {(f.kind, f.name, f.state) for f in findings}


def test_a_declared_necessary_cookie_everywhere_is_clean() -> None:
    assert find([entry("sid", s) for s in (BEFORE, REJECT, ACCEPT)], [], Classifier(
        {"cookies": [{"name": "sid", "category": "necessary"}]})) == []


def test_undeclared_once_per_item_in_its_first_state_with_every_page() -> None:
    findings = find([entry("ab", ACCEPT, PAGES[1:]), entry("ab", REJECT, PAGES[:1])], [], CLASSIFIER)
    undeclared = [f for f in findings if f.kind == "undeclared"]
    assert len(undeclared) == 1
    assert (undeclared[0].state, undeclared[0].page, undeclared[0].pages) == (REJECT, PAGES[0], tuple(PAGES))
    assert undeclared[0].level == "error" and undeclared[0].category == "unknown"


def test_before_consent_and_after_refusal_for_anything_not_necessary() -> None:
    entries = [entry(name, state) for name in ("theme", "YSC", "mystery", "sid") for state in (BEFORE, REJECT)]
    found = kinds(find(entries, [], CLASSIFIER))
    for name in ("theme", "YSC", "mystery"):
        assert ("before_consent", name, BEFORE) in found and ("after_refusal", name, REJECT) in found
    assert not {f for f in found if f[1] == "sid"}


def test_storage_keys_count_like_cookies_but_the_banners_own_do_not() -> None:
    found = kinds(find([entry("theme", BEFORE, kind="localStorage"),
                        entry("consent:shop:queue", REJECT, kind="localStorage")], [], CLASSIFIER))
    assert ("before_consent", "theme", BEFORE) in found
    assert not [f for f in found if f[1] == "consent:shop:queue"]


def test_category_mismatch_for_seen_and_unseen_declared_names() -> None:
    findings = find([entry("_ga", ACCEPT), entry("YSC", ACCEPT)], [], CLASSIFIER)
    mismatches = {(f.name, f.state, f.declared_category, f.known_category, f.level)
                  for f in findings if f.kind == "category_mismatch"}
    assert mismatches == {("_ga", ACCEPT, "preferences", "analytics", "warning"),
                          ("_fbp", None, "analytics", "marketing", "warning")}


def test_declared_unseen_for_names_and_patterns_nothing_fell_under() -> None:
    unseen = {f.name for f in find([entry("sid", BEFORE), entry("old_banner", ACCEPT)], [], CLASSIFIER)
              if f.kind == "declared_unseen"}
    assert unseen == {"_ga", "theme", "_fbp"}
    assert all(f.level == "info" for f in find([], [], CLASSIFIER) if f.kind == "declared_unseen")


def test_third_party_before_consent_for_hosts_but_not_the_consent_service() -> None:
    hosts = [HostEntry("ads.example", BEFORE, PAGES, ["https://ads.example/p.js"], ["script"], 4),
             HostEntry("consent.example", BEFORE, PAGES, ["https://consent.example/banner.js"], ["script"], 2,
                       consent_service=True),
             HostEntry("stats.example", ACCEPT, PAGES, ["https://stats.example/a.js"], ["script"], 2)]
    (finding,) = [f for f in find([], hosts, CLASSIFIER) if f.kind == "third_party_before_consent"]
    assert (finding.name, finding.domain, finding.page, finding.item) == (
        "ads.example", "ads.example", PAGES[0], "host")
    assert "4 request(s)" in finding.message and "https://ads.example/p.js" in finding.message


def test_levels_order_and_exit_code() -> None:
    assert LEVELS == {"undeclared": "error", "before_consent": "error", "after_refusal": "error",
                      "third_party_before_consent": "error", "category_mismatch": "warning",
                      "declared_unseen": "info"}
    findings = find([entry("_ga", ACCEPT), entry("x", BEFORE)], [], CLASSIFIER)
    order = [f.level for f in findings]
    assert order == sorted(order, key=["error", "warning", "info"].index)
    assert [f.kind for f in findings if f.level == "error"] == sorted(
        (f.kind for f in findings if f.level == "error"), key=KINDS.index)

    def result(found: list[Finding]) -> ScanResult:
        return ScanResult("shop", 1, None, [], 0.0, 60.0, {}, [], [], [], [], [], found)

    assert result(findings).exit_code == 1
    assert result([f for f in findings if f.level != "error"]).exit_code == 0
    assert result([]).exit_code == 0
