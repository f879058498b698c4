"""Classification: the site's declarations first, then the Open Cookie Database, else unknown."""

from __future__ import annotations

import pytest

from consent_service.scan.classify import Classifier
from consent_service.scan.cookie_database import CookieDatabase, bundled

CONFIG = {
    "site": "shop", "cookie": {"name": "consent", "domain": ""},
    "categories": [{"id": c} for c in ("necessary", "preferences", "analytics", "marketing")],
    "cookies": [
        {"pattern": "_ga_*", "category": "marketing"},
        {"name": "_ga_main", "category": "analytics"},
        {"name": "_ga", "category": "preferences"},
        {"pattern": "pref_*_v2", "category": "preferences"},
    ],
}
HEADER = ("ID,Platform,Category,Cookie / Data Key name,Domain,Description,Retention period,Data Controller,"
          "User Privacy & GDPR Rights Portals,Wildcard match\n")
CSV = HEADER + """1,Google Analytics,Analytics,_ga,,ID used to identify users,2 years,Google,,0
2,Google Analytics,Analytics,_ga_,,ID used to identify users,2 years,Google,,1
3,Hotjar,Functional,_hj,,Hotjar,1 year,Hotjar,,1
4,Hotjar,Analytics,_hjSession_,,Hotjar session,30 minutes,Hotjar,,1
5,Cloudflare,Security,__cf_bm,,Bot management,30 minutes,Cloudflare,,0
6,Shop,Personalization,lang,,Language,1 year,Someone,,0
7,X,Functional,token,,A token,session,X,,0
8,Y,Marketing,token,,A tracking token,session,Y,,0
9,Z,Whatever,odd,,?,?,Z,,0
"""


@pytest.fixture
def classifier() -> Classifier:
    return Classifier(CONFIG, CookieDatabase.from_csv(CSV))


@pytest.mark.parametrize(("name", "category", "declared", "declaration", "known"), [
    ("_ga_main", "analytics", True, "_ga_main", "analytics"),       # an exact name beats an earlier pattern
    ("_ga_XYZ", "marketing", True, "_ga_*", "analytics"),
    ("_ga", "preferences", True, "_ga", "analytics"),
    ("pref_a_v2", "preferences", True, "pref_*_v2", None),
    ("_hjSession_1", "analytics", False, None, "analytics"),         # the longest prefix wins
    ("_hjOther", "review", False, None, "review"),                   # Functional: a person decides
    ("__cf_bm", "necessary", False, None, "necessary"),              # Security
    ("lang", "preferences", False, None, "preferences"),             # Personalization
    ("token", "review", False, None, "review"),                      # two categories for one name
    ("odd", "unknown", False, None, None),                           # a category it does not map
    ("nothing", "unknown", False, None, None),
    ("consent", "necessary", False, None, "necessary"),               # the banner's cookie, still undeclared
])
def test_classify(classifier: Classifier, name: str, category: str, declared: bool, declaration: str | None,
                  known: str | None) -> None:
    c = classifier.classify(name)
    assert (c.category, c.declared, c.declaration, c.known_category) == (category, declared, declaration, known)
    assert not c.builtin


def test_a_prefix_row_covers_the_prefix_itself_and_exact_rows_win(classifier: Classifier) -> None:
    assert classifier.database.lookup("_hjSession_").category == "analytics"
    assert classifier.database.lookup("_h") is None
    assert classifier.database.lookup("_ga").prefix is False


def test_the_banners_own_storage_is_builtin_necessary(classifier: Classifier) -> None:
    c = classifier.classify("consent:shop:queue", storage=True)
    assert (c.category, c.declared, c.builtin) == ("necessary", False, True)
    assert classifier.classify("consent:other:queue", storage=True).category == "unknown"
    assert classifier.classify("consent", storage=True).category == "unknown"


def test_the_bundled_database_loads_once_and_maps_its_categories() -> None:
    database = bundled()
    assert bundled() is database
    assert len(database) > 2000
    assert database.lookup("_ga").category == "analytics"
    assert database.lookup("_fbp").category == "marketing"
    assert database.lookup("_ga_ABC123").category == "analytics"
    assert database.lookup("YSC").category == "review"
    assert {row.category for row in database.exact.values()} <= {
        "analytics", "marketing", "necessary", "preferences", "review"}


def test_a_classifier_loads_the_database_only_when_asked() -> None:
    classifier = Classifier(CONFIG)
    assert classifier._database is None
    assert classifier.classify("_ga").declared
    assert classifier._database is not None
