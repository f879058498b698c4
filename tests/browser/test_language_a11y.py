"""Languages, keyboard use, focus, motion and colour preferences, and axe-core."""

from __future__ import annotations

import pytest

from tests.support.banner_pages import BANNER, PREFERENCES, wait_until

ZH_TITLE = "Demo 软件商店的 Cookie"
EN_TITLE = "Cookies on Demo Software Shop"


@pytest.mark.slow
@pytest.mark.parametrize(("html_lang", "locale", "title"), [
    ("zh-CN", "en-US", ZH_TITLE),          # the page's language wins
    ("zh-Hans", "en-US", ZH_TITLE),        # script subtag matches Simplified Chinese
    ("zh", "en-US", ZH_TITLE),
    ("en-GB", "zh-CN", EN_TITLE),
    (None, "zh-CN", ZH_TITLE),             # no page language: the browser's
    ("fr", "zh-SG", ZH_TITLE),             # undeclared page language: the browser's
    (None, "fr-FR", EN_TITLE),             # nothing matches: the site default
])
def test_language_choice(browser, pages, site, html_lang, locale, title):
    context = browser.new_context(locale=locale)
    try:
        page = context.new_page()
        page.goto(pages.shop(site, lang=html_lang))
        banner = page.get_by_role("dialog", name=title)
        banner.wait_for()
        expected = "zh-CN" if title == ZH_TITLE else "en"
        assert banner.get_attribute("lang") == expected
        accept = "全部接受" if expected == "zh-CN" else "Accept all"
        assert page.locator(f"{BANNER} button").first.inner_text() == accept
    finally:
        context.close()


def focused(page):
    return page.evaluate("document.activeElement.textContent || document.activeElement.name || ''")


def test_keyboard_only(page, pages, service, site):
    page.goto(pages.shop(site))
    page.locator(BANNER).wait_for()
    page.keyboard.press("Tab")  # the banner comes first in the tab order
    assert focused(page) == "Privacy policy"
    page.keyboard.press("Tab")
    assert focused(page) == "Accept all"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid", "focus is visible"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert focused(page) == "Customize"
    page.keyboard.press("Enter")
    page.locator(PREFERENCES).wait_for()
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Close"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") == "SUMMARY"  # the essential cookies' details
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "preferences"
    page.keyboard.press("Space")
    assert page.locator(f"{PREFERENCES} input[name=preferences]").is_checked()

    # Focus stays inside the preferences view, both directions.
    inside = "document.querySelector('.cc-pv').contains(document.activeElement)"
    for _ in range(25):
        page.keyboard.press("Tab")
        assert page.evaluate(inside)
    for _ in range(25):
        page.keyboard.press("Shift+Tab")
        assert page.evaluate(inside)

    page.keyboard.press("Escape")
    page.locator(PREFERENCES).wait_for(state="detached")
    assert focused(page) == "Customize", "focus goes back to the control that opened the view"
    assert page.locator(BANNER).is_visible(), "Escape decides nothing"
    assert page.evaluate("window.consent.get().decided") is False
    page.wait_for_timeout(150)
    assert service.records(site) == []

    page.keyboard.press("Shift+Tab")
    assert focused(page) == "Reject all"
    page.keyboard.press("Enter")
    page.locator(BANNER).wait_for(state="detached")
    wait_until(page, "window.consent.get().decided")


@pytest.mark.slow
def test_reduced_motion_and_dark_scheme(browser, pages, site):
    looks = {}
    for scheme, motion in (("light", "no-preference"), ("dark", "reduce")):
        context = browser.new_context(color_scheme=scheme, reduced_motion=motion)
        try:
            page = context.new_page()
            page.goto(pages.shop(site))
            banner = page.locator(BANNER)
            banner.wait_for()
            looks[scheme] = banner.evaluate(
                "e => [getComputedStyle(e).animationName, getComputedStyle(e).backgroundColor]")
        finally:
            context.close()
    assert looks["light"][0] == "cc-in" and looks["dark"][0] == "none"
    assert looks["light"][1] != looks["dark"][1]


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing(browser, pages, site, scheme):
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context(color_scheme=scheme)
    try:
        page = context.new_page()
        page.goto(pages.shop(site, lang="en"))
        page.locator(BANNER).wait_for()
        page.wait_for_timeout(300)  # entrance animation done
        first = Axe().run(page)
        assert first.violations_count == 0, first.generate_report()
        page.get_by_role("button", name="Customize").click()
        page.locator(PREFERENCES).wait_for()
        page.locator(f"{PREFERENCES} summary").first.click()
        page.wait_for_timeout(300)
        prefs = Axe().run(page)
        assert prefs.violations_count == 0, prefs.generate_report()
    finally:
        context.close()


# The first layer is a non-modal dialog (docs/banner.md, "Keyboard"): it takes the focus as it
# appears only when nothing on the page has it, Tab moves through it and on into the page, and
# Escape hands the focus back to where it came from without deciding anything.
PAGE_LINKS = '<p><a href="#one" id="one">First page link</a> <a href="#two" id="two">Second page link</a></p>'


def active(page):
    return page.evaluate("""() => { const e = document.activeElement;
        return e === document.body ? 'body' : e.id || e.getAttribute('aria-label') || e.textContent.trim()
            || e.getAttribute('role'); }""")


def no_choice_made(page, service, site):
    assert page.locator(BANNER).is_visible(), "the first layer stays until a choice is made"
    assert page.evaluate("window.consent.get().decided") is False
    page.wait_for_timeout(150)
    assert service.records(site) == []


def test_first_layer_takes_the_focus_and_escape_gives_it_back(page, pages, service, site):
    page.goto(pages.shop(site, PAGE_LINKS))
    banner = page.locator(BANNER)
    banner.wait_for()
    assert banner.evaluate("e => e === document.activeElement"), "focus moves into the dialog"
    assert banner.get_attribute("aria-modal") is None, "non-modal: the page stays usable"
    order = []
    for _ in range(5):
        page.keyboard.press("Tab")
        order.append(active(page))
    assert order == ["Privacy policy", "Accept all", "Reject all", "Customize", "one"]
    page.keyboard.press("Escape")  # focus is on the page: Escape there is the page's business
    assert active(page) == "one"

    page.keyboard.press("Shift+Tab")  # back into the banner from the page
    assert active(page) == "Customize"
    page.keyboard.press("Escape")
    assert active(page) == "one", "Escape returns to where the focus came from"
    no_choice_made(page, service, site)


def test_escape_right_away_leaves_the_banner_and_decides_nothing(page, pages, service, site):
    page.goto(pages.shop(site, PAGE_LINKS))
    page.locator(BANNER).wait_for()
    page.keyboard.press("Escape")
    assert active(page) == "body", "the focus goes back to the page, where it was"
    no_choice_made(page, service, site)
    page.keyboard.press("Tab")
    assert active(page) == "Privacy policy", "the banner is still first in the tab order"


def test_first_layer_leaves_a_focused_field_alone(page, pages, service, site):
    page.goto(pages.shop(site, '<label>Search <input id="search" autofocus></label>'))
    page.locator(BANNER).wait_for()
    assert active(page) == "search"
    page.keyboard.type("editor")
    assert page.input_value("#search") == "editor"
    no_choice_made(page, service, site)


def test_a_keyboard_choice_returns_the_focus_to_the_page(page, pages, service, site):
    page.goto(pages.shop(site, PAGE_LINKS))
    page.locator(BANNER).wait_for()
    page.focus("#two")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert active(page) == "Customize"
    page.keyboard.press("Shift+Tab")
    assert active(page) == "Reject all"
    page.keyboard.press("Enter")
    page.locator(BANNER).wait_for(state="detached")
    assert active(page) == "one", "the focus is back where it entered the banner from"
    wait_until(page, "window.consent.get().decided")
