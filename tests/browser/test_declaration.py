"""The cookie declaration on a privacy page: the banner fills <div data-consent-declaration> with the
declared cookies by category in the page's language, the visitor's current choice and a button that
opens the preferences; it follows every change, keeps declared texts as text, fetches nothing on
pages without the element, and axe-core finds nothing in English or Simplified Chinese."""

from __future__ import annotations

import pytest

from tests.support.banner_pages import BANNER, PREFERENCES, wait_until

DECLARATION = "[data-consent-declaration]"
PRIVACY = f"<h2>Cookies we use</h2><div {DECLARATION[1:-1]}></div>"
HOSTILE = '<img src=x onerror="window.pwned=1">'
FILLED = "document.querySelectorAll('[data-consent-declaration] section').length === 4"
#: The "no choice yet" line is the only paragraph outside the categories' sections.
UNDECIDED_GONE = "document.querySelector('[data-consent-declaration] > div > p') === null"


def statuses(page):
    """Each category's title and the status line under it."""
    return page.evaluate("""() => [...document.querySelectorAll('[data-consent-declaration] section')]
      .map(s => [s.querySelector('h3').textContent, s.querySelectorAll('p')[1].textContent])""")


def test_fills_the_declaration_and_follows_the_choice(page, pages, site):
    page.goto(pages.shop(site, PRIVACY))
    wait_until(page, FILLED)
    declaration = page.locator(DECLARATION)
    assert declaration.locator("> div").get_attribute("lang") == "en"
    assert declaration.get_by_text("You have not made a choice yet.").count() == 1
    assert statuses(page) == [["Essential", "Always on"], ["Preferences", "Not allowed"],
                              ["Analytics", "Not allowed"], ["Advertising", "Not allowed"]]
    essential = declaration.locator("section").first.locator("table")
    assert essential.locator("th").all_inner_texts() == ["Cookie", "Provider", "Purpose", "Lifetime"]
    assert essential.locator("tbody tr").first.locator("td").all_inner_texts() == [
        "session", "Demo Software Shop", "Keeps you signed in and the language you chose.", "session"]
    assert "_ga_*" in declaration.locator("section").nth(2).inner_text()

    change = declaration.get_by_role("button", name="Change your choice")
    change.click()
    page.locator(PREFERENCES).wait_for()
    page.get_by_role("switch", name="Analytics").check()
    page.get_by_role("button", name="Save choices").click()
    page.locator(PREFERENCES).wait_for(state="detached")
    wait_until(page, UNDECIDED_GONE)
    assert statuses(page)[2] == ["Analytics", "Allowed"] and statuses(page)[1] == ["Preferences", "Not allowed"]
    assert page.evaluate("document.activeElement.textContent") == "Change your choice", "focus stays on the button"
    assert page.locator(BANNER).count() == 0

    page.evaluate("consent.withdraw()")
    wait_until(page, "document.querySelectorAll('[data-consent-declaration] section')[2]"
                     ".querySelectorAll('p')[1].textContent === 'Not allowed'")


def test_a_returning_visitor_sees_their_choice(page, pages, site):
    page.goto(pages.shop(site))
    page.get_by_role("button", name="Accept all").click()
    wait_until(page, "document.cookie.includes('consent=')")
    page.goto(pages.shop(site, PRIVACY))
    wait_until(page, FILLED)
    assert [status for _, status in statuses(page)] == ["Always on", "Allowed", "Allowed", "Allowed"]
    assert page.locator(DECLARATION).get_by_text("You have not made a choice yet.").count() == 0


def test_in_simplified_chinese(page, pages, site):
    page.goto(pages.shop(site, PRIVACY, lang="zh-CN"))
    wait_until(page, FILLED)
    declaration = page.locator(DECLARATION)
    assert declaration.locator("> div").get_attribute("lang") == "zh-CN"
    assert statuses(page)[0] == ["必要", "始终启用"] and statuses(page)[3] == ["广告", "未允许"]
    assert declaration.locator("th").first.inner_text() == "Cookie"
    assert "保持您的登录状态并记住您选择的语言。" in declaration.inner_text()
    assert declaration.get_by_role("button", name="更改您的选择").count() == 1


def test_only_pages_with_the_element_fetch_it(page, pages, site):
    """Once the visitor has chosen (no banner, so no preferences view to fill), only a page with the
    element fetches the declaration."""
    page.goto(pages.shop(site))
    page.get_by_role("button", name="Reject all").click()
    page.locator(BANNER).wait_for(state="detached")
    page.wait_for_load_state("networkidle")  # what the first page asked for is not the next page's doing
    asked = []
    page.on("request", lambda request: asked.append(request.url) if "/declaration" in request.url else None)
    page.goto(pages.shop(site))
    page.wait_for_timeout(300)
    assert asked == []
    page.goto(pages.shop(site, PRIVACY, lang="zh-Hans"))
    wait_until(page, FILLED)
    assert len(asked) == 1 and asked[0].endswith(f"/v1/sites/{site}/declaration?lang=zh-CN")


def test_under_a_strict_csp(page, pages, site):
    page.goto(pages.shop(site, PRIVACY, nonce="n0nce", csp=True))
    wait_until(page, FILLED)
    assert statuses(page)[0] == ["Essential", "Always on"]


def test_declared_texts_stay_text(page, pages, service):
    def hostile(raw):
        raw["cookies"][0]["provider"] = HOSTILE
        raw["cookies"][0]["purpose"]["en"] = "<script>window.pwned=2</script>"
        raw["texts"]["en"]["categories"]["necessary"]["title"] = HOSTILE
        raw["texts"]["en"]["declaration"]["change"] = "<b>change</b>"

    site = service.site(edit=hostile)
    page.goto(pages.shop(site, PRIVACY))
    wait_until(page, FILLED)
    declaration = page.locator(DECLARATION)
    assert declaration.locator("img, script, b").count() == 0
    assert declaration.locator("h3").first.inner_text() == HOSTILE
    assert declaration.locator("td").nth(1).inner_text() == HOSTILE
    assert declaration.get_by_role("button", name="<b>change</b>").count() == 1
    assert page.evaluate("window.pwned") is None


@pytest.mark.slow
@pytest.mark.parametrize(("lang", "accept"), [("en", "Accept all"), ("zh-CN", "全部接受")])
def test_axe_finds_nothing(browser, pages, site, lang, accept):
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(pages.shop(site, PRIVACY, lang=lang))
        wait_until(page, FILLED)
        page.wait_for_timeout(300)  # the banner's entrance animation
        before = Axe().run(page)
        assert before.violations_count == 0, before.generate_report()
        page.get_by_role("button", name=accept).click()
        page.locator(BANNER).wait_for(state="detached")
        wait_until(page, UNDECIDED_GONE)
        after = Axe().run(page)
        assert after.violations_count == 0, after.generate_report()
    finally:
        context.close()
