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
    assert [c["id"] for c in notice["categories"]] == ["necessary", "preferences", "analytics", "marketing"]
    assert set(notice["texts"]) == {"en", "zh-CN"}
    assert declaration.settings["accept_lifetime_days"] == 365
    assert declaration.settings["refuse_lifetime_days"] == 182
    assert len(declaration.policy_hash) == 64


@pytest.mark.parametrize("old,new,expected", [
    ('id = "demo"', 'id = "Demo Shop"', "site.id: must be a lowercase slug"),
    ('category = "marketing"', 'category = "adverts"', "cookies[7].category 'adverts' is not declared"),
    ('consent_mode = ["analytics_storage"]', 'consent_mode = ["tracking"]',
     "categories.analytics.value.consent_mode[0]"),
    ('accept_lifetime_days = 365', 'accept_lifetime_days = "a year"', "site.accept_lifetime_days"),
    ('[texts.zh-CN.categories.marketing]', '[texts.zh-CN.categories.marketingx]', "texts.zh-CN.categories lacks"),
    ('default_language = "en"', 'default_language = "fr"', "site.default_language: must be one of"),
    ('origins = ["http://127.0.0.1:8000", "http://localhost:8000"]', 'origins = ["not a url"]', "site.origins[0]"),
    ('name = "session"', 'name = "session"\npattern = "sess*"', "give exactly one of name or pattern"),
])
def test_bad_file_names_file_key_and_problem(tmp_path, old, new, expected):
    text = DEMO_TOML.read_text(encoding="utf-8")
    assert old in text
    path = write(tmp_path, "bad.toml", text.replace(old, new, 1))
    with pytest.raises(SiteFileError) as error:
        load_site_file(path)
    assert str(path) in str(error.value) and expected in str(error.value)


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
    with app.app_context():
        assert db.session.get(Site, "demo").settings["origins"][1] == "https://shop.example"
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
