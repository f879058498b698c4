"""The demo shop on a phone (390 x 844 CSS pixels, a mobile browser that zooms out to fit what is too
wide): no page is wider than the screen, signed in or not, in English and Simplified Chinese, and the
banner and the preferences view are wholly on screen."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.slow

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 3}
BANNER = "[role=dialog].cc-b"
PREFERENCES = ".cc-pv[role=dialog]"
PAGES = ("/", "/products/build-cache", "/cart", "/login", "/privacy", "/deals")
LONG_EMAIL = "firstname.middlename.lastname@engineering.example-company.com"


def widest(page: Any) -> dict[str, Any]:
    """The document's width against the screen's, and what sticks out if anything does."""
    return page.evaluate("""() => ({
        scroll: document.documentElement.scrollWidth, inner: innerWidth, height: innerHeight,
        out: [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 0.5)
             .map(e => e.tagName + '.' + e.className).slice(0, 5)})""")


def on_screen(page: Any, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    size = widest(page)
    assert box is not None
    assert box["x"] >= 0 and box["y"] >= 0, box
    assert box["x"] + box["width"] <= size["inner"] and box["y"] + box["height"] <= size["height"], (box, size)


def fits(page: Any, where: str) -> None:
    size = widest(page)
    assert size["inner"] == 390, f"{where}: the browser zoomed out to fit a wider page ({size})"
    assert size["scroll"] <= size["inner"] and not size["out"], f"{where}: wider than the screen: {size}"


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
@pytest.mark.parametrize("signed_in", [False, True], ids=["visitor", "signed-in"])
def test_every_page_fits_a_phone_and_the_banner_is_on_screen(browser, demo, signed_in, locale):
    context = browser.new_context(**PHONE, locale=locale)
    try:
        page = context.new_page()
        if signed_in:
            page.goto(demo.shop_url + "/login")
            page.fill("input[name=email]", LONG_EMAIL)
            page.locator("main form button").click()
            page.wait_for_url(demo.shop_url + "/")
            assert LONG_EMAIL in page.locator("header").inner_text()
        page.goto(demo.shop_url + "/products/build-cache")
        page.locator("main form[action$='/cart'] button").click()  # so /cart shows its table
        for path in PAGES:
            page.goto(demo.shop_url + path)
            page.locator(BANNER).wait_for()
            page.wait_for_timeout(300)  # the entrance animation has settled
            fits(page, path)
            on_screen(page, BANNER)

        page.locator(BANNER).locator(".cc-row button").nth(2).click()  # Customize
        page.locator(PREFERENCES).wait_for()
        page.wait_for_timeout(300)
        fits(page, "preferences view")
        on_screen(page, PREFERENCES)
    finally:
        context.close()
