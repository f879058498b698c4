"""Which pages a scan visits, which hosts are the shop's, and where the declared interactions apply."""

from __future__ import annotations

import pytest

from consent_service.scan.crawler import PageQueue, crawlable, normalize, parse_sitemap, robots_sitemaps
from consent_service.scan.model import Interaction
from consent_service.scan.parties import Parties, origin_of


@pytest.mark.parametrize(("url", "expected"), [
    ("HTTP://Shop.Example/a?b=1#frag", "http://shop.example/a?b=1"),
    ("https://shop.example", "https://shop.example/"),
    ("https://user:pw@shop.example:8443/x", "https://shop.example:8443/x"),
    ("mailto:a@b.c", None), ("javascript:alert(1)", None), ("ftp://shop.example/", None), ("http://[::1", None),
])
def test_normalize(url: str, expected: str | None) -> None:
    assert normalize(url) == expected


def test_relative_links_resolve_against_the_page() -> None:
    assert normalize("../b#x", "https://shop.example/a/c") == "https://shop.example/b"


def test_only_same_origin_pages_that_are_not_files() -> None:
    origins = {"https://shop.example"}
    assert crawlable("https://shop.example/products/db", origins)
    assert crawlable("https://shop.example/v1.2/notes", origins)
    assert not crawlable("https://shop.example/catalogue.PDF", origins)
    assert not crawlable("http://shop.example/", origins)
    assert not crawlable("https://cdn.shop.example/", origins)


def test_the_queue_visits_each_page_once_up_to_the_maximum() -> None:
    queue = PageQueue(["https://shop.example/", "https://shop.example/#again"], max_pages=3)
    assert queue.planned == ["https://shop.example/"]
    assert queue.add_all(["https://shop.example/a", "https://other.example/", "https://shop.example/a",
                          "https://shop.example/b", "https://shop.example/c"]) == 2
    assert queue.planned == ["https://shop.example/", "https://shop.example/a", "https://shop.example/b"]
    assert [queue.next(), queue.next(), queue.next(), queue.next()] == queue.planned + [None]
    with pytest.raises(ValueError, match="not an http"):
        PageQueue(["file:///etc/passwd"], 2)


def test_sitemaps_and_sitemap_indexes_are_read_without_an_xml_parser() -> None:
    urlset = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><urlset><url><loc> https://s.example/?a=1&amp;b=2'
              ' </loc></url><url><loc>https://s.example/x</loc></url></urlset>')
    assert parse_sitemap(urlset) == (["https://s.example/?a=1&b=2", "https://s.example/x"], [])
    index = "<sitemapindex><sitemap><loc>https://s.example/s1.xml</loc></sitemap></sitemapindex>"
    assert parse_sitemap(index) == ([], ["https://s.example/s1.xml"])
    assert robots_sitemaps("User-agent: *\nSitemap: https://s.example/s.xml\nsitemap:\n") == ["https://s.example/s.xml"]


def test_first_and_third_parties() -> None:
    parties = Parties(["https://www.shop.example/"], extra_hosts=["shop-cdn.example"],
                      service_url="https://consent.example")
    for host in ("www.shop.example", "shop.example", "img.shop.example", ".shop.example", "a.shop-cdn.example"):
        assert parties.first_party(host), host
    for host in ("notshop.example", "shop.example.evil", "consent.example", "example"):
        assert not parties.first_party(host), host
    assert parties.is_service("consent.example") and not parties.is_service("shop.example")
    assert Parties(["http://localhost:5000/"]).first_party("localhost")
    assert origin_of("https://shop.example:443/a") == "https://shop.example"
    assert origin_of("http://[::1]:8000/") == "http://[::1]:8000"


@pytest.mark.parametrize(("page", "url", "applies"), [
    (None, "https://s.example/anything", True),
    ("/products/*", "https://s.example/products/db-studio", True),
    ("/products/*", "https://s.example/cart", False),
    ("/search*", "https://s.example/search?q=x", True),
    ("https://s.example/p/*", "https://s.example/p/1", True),
    ("https://s.example/p/*", "https://t.example/p/1", False),
])
def test_where_an_interaction_applies(page: str | None, url: str, applies: bool) -> None:
    assert Interaction("button.add", page).applies_to(url) is applies


def test_interactions_from_declarations() -> None:
    assert Interaction.from_value({"click": " #add ", "page": "/p/*"}) == Interaction("#add", "/p/*")
    for bad in ({"page": "/x"}, {"click": ""}, {"click": "#a", "wait": 3}, {"click": "#a", "page": 3}, "#a"):
        with pytest.raises(ValueError):
            Interaction.from_value(bad)
