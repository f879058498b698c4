"""The cookie declaration for a privacy page: GET /v1/sites/<site>/declaration as JSON or an HTML
fragment, in the site's languages (with the banner's fallback rule), cacheable, readable by the
site's own pages only, and never markup from a site file."""

from __future__ import annotations

import dataclasses
import tomllib
from html.parser import HTMLParser
from typing import Any

import pytest

from consent_service.errors import NotFound
from consent_service.sites.cookie_declaration import cookie_declaration
from consent_service.sites.declaration import parse_declaration
from tests.support import DEMO_ORIGIN, DEMO_TOML, sync_site

URL = "/v1/sites/demo/declaration"
ATTACKS = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "</td></tr></table><iframe src=//evil>",
           "&lt;b&gt; already escaped &amp;", "{{ 7*7 }} {% raw %}", "' onmouseover='alert(1)"]
#: Every element the fragment may hold, and the attributes it may carry.
FRAGMENT_TAGS = {"div": {"lang"}, "section": set(), "h3": set(), "p": set(), "table": set(), "thead": set(),
                 "tbody": set(), "tr": set(), "th": set(), "td": set(), "button": {"type", "data-consent-settings"}}


class Fragment(HTMLParser):
    """The elements, attributes and text of an HTML fragment, as a browser would parse them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.texts.append(data.strip())


def test_json_in_the_default_language(client: Any, demo: Any) -> None:
    response = client.get(URL)
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert body["language"] == "en" and body["languages"] == ["en", "zh-CN"] and body["site"] == "demo"
    # As the visitor's regime shows it: opt-in without a region (the china-only purposes are not in it).
    assert body["policy_version"] == demo.regime_version("opt-in") and body["policy_hash"] == demo.regime_hash("opt-in")
    assert [c["id"] for c in body["categories"]] == ["necessary", "preferences", "analytics", "marketing"]
    necessary, _, analytics, _ = body["categories"]
    assert necessary["required"] and necessary["title"] == "Essential"
    assert [c["name"] for c in necessary["cookies"]] == ["session", "cart", "csrf_token", "consent"]
    assert analytics["cookies"][1] == {"name": "_ga_*", "pattern": True, "provider": "Google Analytics",
                                       "lifetime": "2 years", "purpose": "Keeps the state of an analytics session."}
    assert body["labels"] == {"cookie": "Cookie", "provider": "Provider", "purpose": "Purpose", "lifetime": "Lifetime",
                              "allowed": "Allowed", "refused": "Not allowed",
                              "undecided": "You have not made a choice yet.", "change": "Change your choice",
                              "always_on": "Always on"}
    assert response.headers["Content-Language"] == "en"


@pytest.mark.parametrize(("lang", "expected"), [
    ("zh-CN", "zh-CN"), ("zh-cn", "zh-CN"), ("zh", "zh-CN"), ("zh-Hans", "zh-CN"), ("en-GB", "en"), ("EN", "en"),
    ("fr", "en"), ("fr-CA", "en"), ("", "en"),
])
def test_languages_fall_back_like_the_banner(client: Any, demo: Any, lang: str, expected: str) -> None:
    response = client.get(URL, query_string={"lang": lang})
    assert response.status_code == 200 and response.get_json()["language"] == expected
    assert response.headers["Content-Language"] == expected


def test_simplified_chinese(client: Any, demo: Any) -> None:
    body = client.get(URL + "?lang=zh-CN").get_json()
    assert body["categories"][0]["title"] == "必要" and body["labels"]["change"] == "更改您的选择"
    session = body["categories"][0]["cookies"][0]
    assert session["purpose"] == "保持您的登录状态并记住您选择的语言。"
    # A lifetime declared per language is shown in the visitor's; a provider declared once, as it is.
    assert (session["lifetime"], session["provider"]) == ("会话期间", "Demo Software Shop")
    page = client.get(URL + "?lang=zh-CN&format=html").get_data(as_text=True)
    assert '<div lang="zh-CN">' in page and "<th>提供方</th>" in page


@pytest.mark.parametrize("lang", ["en_US", "<script>", "e", "x" * 40, "zh-CN-" + "a" * 40, "en-", "1234"])
def test_a_tag_that_is_not_one_is_refused(client: Any, demo: Any, lang: str) -> None:
    response = client.get(URL, query_string={"lang": lang})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_language"


def test_html_by_parameter_or_accept_header(client: Any, demo: Any) -> None:
    by_parameter = client.get(URL + "?format=html")
    by_accept = client.get(URL, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    for response in (by_parameter, by_accept):
        assert response.status_code == 200 and response.mimetype == "text/html"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Security-Policy"] == "default-src 'none'"
    assert by_parameter.data == by_accept.data
    assert client.get(URL, headers={"Accept": "*/*"}).mimetype == "application/json"
    assert client.get(URL + "?format=json", headers={"Accept": "text/html"}).mimetype == "application/json"
    fragment = Fragment(by_parameter.get_data(as_text=True))
    assert [tag for tag, _ in fragment.tags].count("section") == 4
    assert ("button", {"type": "button", "data-consent-settings": None}) in fragment.tags
    assert "Keeps you signed in and the language you chose." in fragment.texts and "Always on" in fragment.texts


@pytest.mark.parametrize(("query", "code", "status"), [
    ("?format=xml", "unsupported_format", 400),
    ("?format=", None, 200),
    ("?language=en", "unknown_parameter", 400),
    ("?lang=en&lang=zh-CN", None, 200),
])
def test_bad_parameters(client: Any, demo: Any, query: str, code: str | None, status: int) -> None:
    response = client.get(URL + query)
    assert response.status_code == status
    if code:
        assert response.get_json()["error"]["code"] == code


def test_unknown_site(client: Any, demo: Any) -> None:
    for site in ("nope", "Nope!", "<b>"):
        response = client.get(f"/v1/sites/{site}/declaration")
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "unknown_site"


def test_cacheable_and_read_only_by_the_sites_pages(client: Any, demo: Any) -> None:
    response = client.get(URL + "?lang=zh-CN", headers={"Origin": DEMO_ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == DEMO_ORIGIN
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert {"Accept", "Origin"} <= {v.strip() for v in response.headers["Vary"].split(",")}
    etag = response.headers["ETag"]
    assert client.get(URL + "?lang=zh-CN", headers={"If-None-Match": etag}).status_code == 304
    assert client.get(URL + "?lang=en", headers={"If-None-Match": etag}).status_code == 200
    assert client.get(URL + "?lang=zh-CN&format=html", headers={"If-None-Match": etag}).status_code == 200
    foreign = client.get(URL, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 200 and "Access-Control-Allow-Origin" not in foreign.headers


def hostile_site(app: Any) -> Any:
    """The demo site with markup in every text a site file can hold."""
    raw = tomllib.loads(DEMO_TOML.read_text(encoding="utf-8"))
    attack = iter(ATTACKS * 50)
    for cookie in raw["cookies"]:
        cookie["provider"], cookie["lifetime"] = next(attack), {"en": next(attack), "zh-CN": next(attack)}
        cookie["purpose"] = {"en": next(attack), "zh-CN": next(attack)}
    for texts in raw["texts"].values():
        texts["always_on"] = next(attack)
        texts["declaration"] = {key: next(attack) for key in texts["declaration"]}
        for category in texts["categories"].values():
            category["title"], category["description"] = next(attack), next(attack)
    return sync_site(app, parse_declaration(raw, "hostile"))


def test_a_hostile_declaration_is_only_ever_text(app: Any, client: Any) -> None:
    site = hostile_site(app)
    for lang in ("en", "zh-CN"):
        page = client.get(URL + f"?lang={lang}&format=html").get_data(as_text=True)
        fragment = Fragment(page)
        for tag, attributes in fragment.tags:
            assert tag in FRAGMENT_TAGS and set(attributes) <= FRAGMENT_TAGS[tag], (tag, attributes)
        declaration = cookie_declaration(site, lang)
        declared = [declaration["labels"][key] for key in ("cookie", "provider", "purpose", "lifetime", "change")]
        for category in declaration["categories"]:
            declared += [category["title"], category["description"]]
            for cookie in category["cookies"]:
                declared += [cookie["provider"], cookie["purpose"], cookie["lifetime"]]
        # Every declared text comes back as the very text a browser shows, never as markup.
        assert set(declared) <= set(fragment.texts)
        assert "<script" not in page and "<img" not in page and "<iframe" not in page and "49" not in page
    body = client.get(URL).get_json()
    assert body["categories"][0]["title"] in ATTACKS  # JSON carries the text as is, for text nodes


def test_the_banner_carries_no_declaration_labels(client: Any, demo: Any) -> None:
    """The banner fetches the declaration on the pages that show one; every other page pays nothing."""
    config = client.get("/v1/sites/demo/config").get_json()
    assert all("declaration" not in texts for texts in config["texts"].values())
    assert "Change your choice" not in client.get("/v1/sites/demo/banner.js").get_data(as_text=True)


def test_a_policy_published_before_the_labels_says_so(demo: Any) -> None:
    notice = {**demo.notice, "texts": {language: {k: v for k, v in texts.items() if k != "declaration"}
                                       for language, texts in demo.notice["texts"].items()}}
    with pytest.raises(NotFound) as refused:
        cookie_declaration(dataclasses.replace(demo, notice=notice), "en")
    assert refused.value.code == "no_declaration_texts" and "sync the site file" in refused.value.message
