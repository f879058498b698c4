"""The preferences view gets the categories' descriptions and the cookies' details from the cookie
declaration (the script itself does not carry them); without it the choices still work."""

from __future__ import annotations

from tests.support.banner_pages import BANNER, PREFERENCES, wait_for_record, wait_until

DESCRIBED = "document.querySelectorAll('.cc-pv .cc-cat details').length"


def test_the_view_shows_what_each_category_holds(page, pages, site):
    asked = []
    page.on("request", lambda request: asked.append(request.url) if "/declaration" in request.url else None)
    page.goto(pages.shop(site, lang="zh-CN"))
    page.locator(BANNER).wait_for()
    page.locator(BANNER).get_by_role("button").nth(2).click()  # the third choice opens the preferences
    page.locator(PREFERENCES).wait_for()
    assert wait_until(page, DESCRIBED) == 4
    view = page.locator(PREFERENCES)
    analytics = view.locator("#cc-r-analytics")
    assert "_ga" in analytics.locator("summary").inner_text()
    assert "Google Analytics" in analytics.locator("li").first.text_content()
    assert analytics.locator("p").count() == 1 and analytics.get_attribute("id") == "cc-r-analytics"
    # Described in the page's language, fetched once for the banner and the view together.
    assert len(asked) == 1 and asked[0].endswith("/declaration?lang=zh-CN")
    assert page.evaluate("document.getElementById('cc-c-analytics').closest('[lang]').lang") == "zh-CN"


def test_without_the_declaration_the_choice_still_works(page, pages, service, site):
    page.route("**/declaration*", lambda route: route.abort())
    page.goto(pages.shop(site))
    page.locator(BANNER).wait_for()
    page.locator(BANNER).get_by_role("button", name="Customize").click()
    view = page.locator(PREFERENCES)
    view.wait_for()
    page.wait_for_timeout(200)
    assert page.evaluate(DESCRIBED) == 0
    view.get_by_role("switch", name="Analytics").check()
    view.get_by_role("button", name="Save choices").click()
    records = wait_for_record(service, site, 1, page)
    assert records[-1]["choices"]["analytics"] is True and records[-1]["choices"]["marketing"] is False
