"""The demo shop speaks the visitor's language (issue 14): a browser set to Chinese gets a Chinese shop
and a Chinese banner under <html lang="zh-CN">, an English one gets English, and the switch in the
header keeps the visitor's own choice in the shop's session (a necessary cookie)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from examples.demo_shop.texts import pick_language

BANNER = "[role=dialog].cc-b"


@pytest.mark.parametrize(("chosen", "accepted", "language"), [
    (None, ["zh-CN", "en"], "zh-CN"), (None, ["zh"], "zh-CN"), (None, ["zh-TW", "en"], "zh-CN"),
    (None, ["fr", "en-GB"], "en"), (None, ["de"], "en"), (None, [], "en"), (None, ["*"], "en"),
    ("en", ["zh-CN"], "en"), ("zh-CN", ["en"], "zh-CN"), ("fr", ["zh-CN"], "zh-CN"),
])
def test_the_language_is_the_visitors_choice_else_the_browsers_else_english(chosen, accepted, language):
    assert pick_language(chosen, accepted) == language


@contextmanager
def visit(browser: Any, demo: Any, locale: str, path: str = "/products/db-studio") -> Iterator[tuple[Any, Any]]:
    """A first visit in a browser set to `locale`, the banner shown; the context closes afterwards."""
    context = browser.new_context(locale=locale)
    try:
        page = context.new_page()
        page.set_default_timeout(5000)
        page.goto(demo.shop_url + path)
        page.locator(BANNER).wait_for()
        yield context, page
    finally:
        context.close()


@pytest.mark.slow
@pytest.mark.parametrize(("locale", "lang", "heading", "add", "accept", "reject"), [
    ("zh-CN", "zh-CN", "DB Studio", "加入购物车", "全部接受", "全部拒绝"),
    ("en-US", "en", "DB Studio", "Add to cart", "Accept all", "Reject all"),
])
def test_the_shop_and_its_banner_follow_the_browsers_language(browser, demo, locale, lang, heading, add, accept,
                                                              reject):
    with visit(browser, demo, locale) as (context, page):
        assert page.locator("html").get_attribute("lang") == lang
        assert page.locator("h1").inner_text() == heading
        assert page.get_by_role("button", name=add).count() == 1
        banner = page.locator(BANNER)
        assert banner.get_by_role("button", name=accept).count() == 1
        assert banner.get_by_role("button", name=reject).count() == 1
        assert page.evaluate("consent.get().language") == lang


@pytest.mark.slow
def test_the_switch_keeps_the_visitors_choice_over_the_browsers(browser, demo):
    with visit(browser, demo, "zh-CN") as (context, page):
        assert page.locator("header").get_by_text("购物车").count() == 1
        page.get_by_role("button", name="English").click()
        page.wait_for_url(demo.shop_url + "/products/db-studio")
        page.locator(BANNER).wait_for()
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator(BANNER).get_by_role("button", name="Accept all").count() == 1
        # Kept on the next page, before any consent: a necessary cookie the guard lets through.
        page.goto(demo.shop_url + "/cart")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator("h1").inner_text() == "Your cart"
        page.get_by_role("button", name="中文").click()
        page.wait_for_url(demo.shop_url + "/cart")
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.locator("h1").inner_text() == "您的购物车"
        assert page.locator(BANNER).get_by_role("button", name="全部接受").count() == 1


@pytest.mark.slow
def test_the_switch_only_goes_back_to_a_page_of_the_shop(browser, demo):
    with visit(browser, demo, "en-US") as (context, page):
        token = next(c["value"] for c in context.cookies() if c["name"] == "csrf_token")
        for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "/\t/evil.example"):
            response = page.request.post(demo.shop_url + "/language", max_redirects=0,
                                         form={"csrf_token": token, "lang": "zh-CN", "next": target})
            assert response.status == 303 and response.headers["location"] in ("/", demo.shop_url + "/"), target
        refused = page.request.post(demo.shop_url + "/language", max_redirects=0,
                                    form={"csrf_token": token, "lang": "fr", "next": "/"})
        assert refused.status == 400


@pytest.mark.slow
@pytest.mark.parametrize(("locale", "purpose", "lifetime", "change"), [
    ("zh-CN", "记住您购物车中的商品。", "30 天", "更改您的选择"),
    ("en-US", "Remembers the items in your cart.", "30 days", "Change your choice"),
])
def test_the_privacy_page_shows_the_cookie_declaration_in_the_visitors_language(browser, demo, locale, purpose,
                                                                               lifetime, change):
    """Issue 13: the demo's privacy page carries the service's cookie declaration, filled by the banner,
    with purposes and lifetimes in the visitor's language."""
    with visit(browser, demo, locale, "/privacy") as (_, page):
        declaration = page.locator("[data-consent-declaration]")
        declaration.get_by_role("cell", name=purpose, exact=True).wait_for()
        cart = declaration.locator("tbody tr", has=page.get_by_role("cell", name=purpose, exact=True))
        assert cart.get_by_role("cell", name=lifetime, exact=True).count() == 1
        from axe_playwright_python.sync_playwright import Axe

        page.wait_for_timeout(300)  # the banner's entrance animation
        found = Axe().run(page)  # the demo's own page, declaration and banner together
        assert found.violations_count == 0, found.generate_report()
        assert declaration.locator("tbody tr").count() >= 4
        assert declaration.get_by_role("button", name=change).count() == 1
