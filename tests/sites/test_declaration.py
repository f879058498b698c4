"""Site declarations: validation messages, policy versions and all-or-nothing sync."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from consent_service.cli import main
from consent_service.cookie_patterns import cookie_matches
from consent_service.extensions import db
from consent_service.models import PolicyVersion, Site
from consent_service.sites.declaration import SiteFileError, load_site_file
from tests.support import DEMO_TOML


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_declaration_is_complete():
    declaration = load_site_file(DEMO_TOML)
    notice = declaration.notice
    assert [c["id"] for c in notice["categories"]] == ["necessary", "preferences", "analytics", "marketing",
                                                       "cross_border_transfer", "third_party_sharing"]
    assert set(notice["texts"]) == {"en", "zh-CN"}
    assert declaration.settings["accept_lifetime_days"] == 365
    assert declaration.settings["refuse_lifetime_days"] == 182
    assert len(declaration.policy_hash) == 64


@pytest.mark.parametrize("old,new,expected", [
    ('id = "demo"', 'id = "Demo Shop"', "site.id: must be a lowercase slug"),
    ('category = "marketing"', 'category = "adverts"', "cookies[8].category 'adverts' is not declared"),
    ('consent_mode = ["analytics_storage"]', 'consent_mode = ["tracking"]',
     "categories.analytics.value.consent_mode[0]"),
    ('accept_lifetime_days = 365', 'accept_lifetime_days = "a year"', "site.accept_lifetime_days"),
    ('[texts.zh-CN.categories.marketing]', '[texts.zh-CN.categories.marketingx]', "texts.zh-CN.categories lacks"),
    ('default_language = "en"', 'default_language = "fr"', "site.default_language: must be one of"),
    ('origins = ["http://127.0.0.1:8000", "http://localhost:8000"]', 'origins = ["not a url"]', "site.origins[0]"),
    ('name = "session"', 'name = "session"\npattern = "sess*"', "give exactly one of name or pattern"),
    # A provider or lifetime is one text, or one per language like a purpose: then every language.
    ('lifetime = { en = "30 days", zh-CN = "30 天" }', 'lifetime = { en = "30 days" }',
     "cookies[1].lifetime lacks language 'zh-CN'"),
    ('lifetime = { en = "30 days", zh-CN = "30 天" }', 'lifetime = 30', "must be a text, or a table of texts"),
    ('lifetime = { en = "30 days", zh-CN = "30 天" }', 'lifetime = { en = "30 days", zh-CN = "" }',
     "cookies[1].lifetime.zh-CN.value: Length must be between 1 and 100"),
    ('provider = "Google Analytics"', 'provider = { en = "Google" }', "cookies[6].provider lacks language 'zh-CN'"),
    # The declaration's labels are texts like the others: every language has all of them.
    ('refused = "未允许"\n', '', "texts.zh-CN.value.declaration.refused: Missing data"),
    ('[texts.en.declaration]', '[texts.en.declaration_x]', "texts.en.value.declaration: Missing data"),
    ('allowed = "Allowed"', 'allowed = ""', "texts.en.value.declaration.allowed"),
    # How the scanner visits the shop: checked as strictly as the rest.
    ('start_urls = ["http://127.0.0.1:8000/"]', 'start_urls = ["https://elsewhere.example/"]',
     "start_urls[0] 'https://elsewhere.example/' is not on one of site.origins"),
    ('start_urls = ["http://127.0.0.1:8000/"]', 'start_urls = ["javascript:alert(1)"]',
     "scan.start_urls[0]: Not a valid URL"),
    ("max_pages = 20", "max_pages = 0", "scan.max_pages"),
    ("max_pages = 20", "max_pages = 20\ndepth = 3", "scan.depth: Unknown field"),
    ('{ page = "/products/*", click', '{ page = "/products/*", clik', "scan.interactions[0].click: Missing data"),
    ('{ page = "/products/*",', '{ page = 3,', "scan.interactions[0].page: Not a valid string"),
])
def test_bad_file_names_file_key_and_problem(tmp_path, old, new, expected):
    text = DEMO_TOML.read_text(encoding="utf-8")
    assert old in text
    path = write(tmp_path, "bad.toml", text.replace(old, new, 1))
    with pytest.raises(SiteFileError) as error:
        load_site_file(path)
    assert str(path) in str(error.value) and expected in str(error.value)


def test_scan_settings_are_settings_not_notice(tmp_path):
    """How the shop is scanned is not shown to visitors: it lives in the settings, out of the hash."""
    declaration = load_site_file(DEMO_TOML)
    assert declaration.settings["scan"] == {
        "start_urls": ["http://127.0.0.1:8000/"], "max_pages": 20,
        "interactions": [{"page": "/products/*", "click": "form[action='/wishlist'] button[type=submit]"},
                         {"page": "/products/*", "click": "form[action='/cart'] button[type=submit]"}]}
    assert "scan" not in declaration.notice
    text = DEMO_TOML.read_text(encoding="utf-8")
    changed = load_site_file(write(tmp_path, "scan.toml", text.replace("max_pages = 20", "max_pages = 50")
                                   .replace('page = "/products/*", ', "")))
    assert changed.settings["scan"]["max_pages"] == 50
    assert changed.settings["scan"]["interactions"][:2] == [{"click": "form[action='/wishlist'] button[type=submit]"},
                                                            {"click": "form[action='/cart'] button[type=submit]"}]
    assert changed.policy_hash == declaration.policy_hash
    start = text.index("[scan]")
    bare = load_site_file(write(tmp_path, "bare.toml", text[:start] + text[text.index("[categories.necessary]"):]))
    assert bare.settings["scan"] == {"start_urls": [], "max_pages": 20, "interactions": []}
    assert bare.policy_hash == declaration.policy_hash


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(SiteFileError, match="not valid TOML"):
        load_site_file(write(tmp_path, "broken.toml", "[site\nid ="))
    with pytest.raises(SiteFileError, match="cannot read"):
        load_site_file(tmp_path / "absent.toml")


def test_cookie_patterns():
    assert cookie_matches({"pattern": "_ga_*"}, "_ga_ABC123")
    assert not cookie_matches({"pattern": "_ga_*"}, "_ga")
    assert cookie_matches({"name": "_ga"}, "_ga")
    assert not cookie_matches({"name": "_ga"}, "_gat")


def run_cli(app, *args):
    return app.test_cli_runner().invoke(main, list(args), catch_exceptions=False)


def versions(app):
    with app.app_context():
        return db.session.execute(sa.select(PolicyVersion.version, PolicyVersion.policy_hash)
                                  .order_by(PolicyVersion.version)).all()


def test_sync_publishes_only_on_visible_change(app, tmp_path):
    result = run_cli(app, "sites", "sync", str(DEMO_TOML))
    assert result.exit_code == 0 and "published policy version 1" in result.output
    assert "unchanged at policy version 1" in run_cli(app, "sites", "sync", str(DEMO_TOML)).output
    text = DEMO_TOML.read_text(encoding="utf-8")
    # A setting the visitor does not see: no new version.
    origins = write(tmp_path, "origins.toml", text.replace('"http://localhost:8000"', '"https://shop.example"'))
    output = run_cli(app, "sites", "sync", str(origins)).output
    assert "unchanged at policy version 1 (settings updated)" in output
    scan = write(tmp_path, "scan.toml", origins.read_text(encoding="utf-8").replace("max_pages = 20", "max_pages = 5"))
    assert "unchanged at policy version 1 (settings updated)" in run_cli(app, "sites", "sync", str(scan)).output
    with app.app_context():
        assert db.session.get(Site, "demo").settings["origins"][1] == "https://shop.example"
        assert db.session.get(Site, "demo").settings["scan"]["max_pages"] == 5
    # A text the visitor sees: a new immutable version with its own hash.
    texts = write(tmp_path, "texts.toml", text.replace("Reject all", "Refuse all"))
    assert "published policy version 2" in run_cli(app, "sites", "sync", str(texts)).output
    (v1, h1), (v2, h2) = versions(app)
    assert (v1, v2) == (1, 2) and h1 != h2
    with app.app_context():
        assert db.session.get(PolicyVersion, ("demo", 1)).notice["texts"]["en"]["reject_all"] == "Reject all"


def test_sync_is_all_or_nothing(app, tmp_path):
    text = DEMO_TOML.read_text(encoding="utf-8")
    other = write(tmp_path, "other.toml", text.replace('id = "demo"', 'id = "other"'))
    third = text.replace('id = "demo"', 'id = "third"').replace("required = true", "required = 3")
    bad = write(tmp_path, "bad.toml", third)
    result = app.test_cli_runner().invoke(main, ["sites", "sync", str(other), str(bad)])
    assert result.exit_code != 0
    assert "bad.toml" in result.output and "categories.necessary.value.required" in result.output
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Site)).scalar() == 0
    duplicate = app.test_cli_runner().invoke(main, ["sites", "sync", str(other), str(other)])
    assert duplicate.exit_code != 0 and "also declared" in duplicate.output


@pytest.mark.parametrize("old,new,code,expected", [
    ('US-CA = "us-opt-out"', 'US-CA = "ccpa"', "unknown_regime", "regimes.regions.US-CA: 'ccpa' is not one of"),
    ('default = "opt-in"', 'default = "gdpr"', "unknown_regime", "regimes.default: 'gdpr'"),
    ('GB = "uk"', 'gb = "uk"', "invalid_region", "'gb' is not an ISO 3166-1 country"),
    ('GB = "uk"', 'UK-LONDON = "uk"', "invalid_region", "'UK-LONDON'"),
    ('regimes = ["china"]', 'regimes = ["prc"]', "unknown_regime", "categories.cross_border_transfer.regimes"),
    ('[categories.cross_border_transfer]\nseparate = true', '[categories.cross_border_transfer]\nseparate = true\n'
     'required = true', "invalid_site_file", "only 'necessary' may be required"),
    ('privacy_choices = "Your privacy choices"\n', '', "regime_texts_missing",
     "texts.en.regimes.us-opt-out lacks privacy_choices"),
    ('separate_title = "单独同意（每一项都需要您单独同意）"\n', '', "regime_texts_missing",
     "texts.zh-CN.regimes.china lacks separate_title"),
    ('[texts.en.regimes.uk]', '[texts.en.regimes.britain]', "unknown_regime", "texts.en.regimes: 'britain'"),
])
def test_bad_regimes_have_stable_codes(tmp_path, old, new, code, expected):
    text = DEMO_TOML.read_text(encoding="utf-8")
    assert old in text
    with pytest.raises(SiteFileError) as error:
        load_site_file(write(tmp_path, "bad.toml", text.replace(old, new, 1)))
    assert error.value.code == code and expected in str(error.value), str(error.value)


def test_a_site_without_regimes_keeps_its_policy_hash(tmp_path):
    """Regimes added nothing to a notice that does not use them: syncing an older file publishes nothing."""
    text = DEMO_TOML.read_text(encoding="utf-8")
    start, end = text.index("[regimes]"), text.index("[categories.necessary]")
    bare = load_site_file(write(tmp_path, "bare.toml", text[:start] + text[end:]))
    assert bare.settings["regimes"] == {"default": "opt-in", "regions": {}}
    assert "separate" not in bare.notice["categories"][0] and "regimes" not in bare.notice["categories"][0]


def test_moving_a_region_publishes_nothing_and_regime_texts_version_only_their_regime(app, tmp_path):
    run_cli(app, "sites", "sync", str(DEMO_TOML))
    text = DEMO_TOML.read_text(encoding="utf-8")
    moved = write(tmp_path, "moved.toml", text.replace('GB = "uk"', 'GB = "opt-in"'))
    assert "unchanged at policy version 1 (settings updated)" in run_cli(app, "sites", "sync", str(moved)).output
    china = write(tmp_path, "china.toml", moved.read_text(encoding="utf-8").replace(
        "单独同意（每一项都需要您单独同意）", "单独同意"))
    assert "published policy version 2" in run_cli(app, "sites", "sync", str(china)).output
    shared = write(tmp_path, "shared.toml", china.read_text(encoding="utf-8").replace("Reject all", "Refuse all"))
    assert "published policy version 3" in run_cli(app, "sites", "sync", str(shared)).output
    with app.app_context():
        assert db.session.get(PolicyVersion, ("demo", 2)).regime_versions == {
            "opt-in": 1, "uk": 1, "us-opt-out": 1, "china": 2, "notice": 1}
        # A shared text (English "Reject all") is shown in every regime; the us-opt-out override of
        # the description does not hide the button.
        assert db.session.get(PolicyVersion, ("demo", 3)).regime_versions == dict.fromkeys(
            ["opt-in", "uk", "us-opt-out", "china", "notice"], 3)


def test_cli_names_the_code(app, tmp_path):
    text = DEMO_TOML.read_text(encoding="utf-8").replace('CN = "china"', 'CN = "pipl"')
    result = app.test_cli_runner().invoke(main, ["sites", "sync", str(write(tmp_path, "bad.toml", text))])
    assert result.exit_code != 0 and "[unknown_regime]" in result.output
