"""First visit: the banner appears fast, shifts nothing, blocks nothing, and offers three equal
choices with every optional category off."""

from __future__ import annotations

from tests.support.banner_pages import BANNER, PREFERENCES, consent_mode_calls

LAYOUT_SHIFT = """() => new Promise(resolve => {
  let total = 0;
  new PerformanceObserver(list => { for (const e of list.getEntries()) if (!e.hadRecentInput) total += e.value; })
    .observe({type: 'layout-shift', buffered: true});
  setTimeout(() => resolve(total), 400);
})"""


def test_banner_shows_without_layout_shift(page, pages, site):
    # How fast it shows is measured by bench/banner_size.py, not asserted under a test's load.
    page.add_init_script("""window.__visible = new Promise(resolve => {
      new MutationObserver((_, o) => { if (document.querySelector('.cc-b')) { o.disconnect();
        requestAnimationFrame(() => resolve(performance.now())); } })
        .observe(document, {childList: true, subtree: true});
    });""")
    page.goto(pages.shop(site))
    page.locator(BANNER).wait_for(state="visible")
    visible = page.evaluate("window.__visible")
    start = page.evaluate("performance.getEntriesByName('consent:start')[0].startTime")
    assert visible >= start
    assert page.evaluate(LAYOUT_SHIFT) == 0
    assert page.locator(BANNER).get_attribute("aria-labelledby")
    assert page.get_by_role("dialog", name="Cookies on Demo Software Shop").is_visible()


def test_rendering_is_not_blocked_by_a_slow_banner(page, pages, site):
    page.goto(pages.shop(site, query="slow=1000"), wait_until="domcontentloaded")
    page.wait_for_function("performance.getEntriesByType('paint').length > 0")
    paint = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
    page.locator(BANNER).wait_for(state="visible")
    banner_start = page.evaluate("performance.getEntriesByName('consent:start')[0].startTime")
    parsed = page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
    assert parsed < banner_start, "the page waited for the banner script"
    assert paint < banner_start


def test_three_equal_choices_and_nothing_preselected(page, pages, site):
    page.goto(pages.shop(site))
    buttons = page.locator(f"{BANNER} .cc-row button")
    assert buttons.all_inner_texts() == ["Accept all", "Reject all", "Customize"]
    looks = buttons.evaluate_all("""els => els.map(b => { const s = getComputedStyle(b), r = b.getBoundingClientRect();
      return [s.backgroundColor, s.color, s.fontSize, s.fontWeight, s.borderTopWidth, s.borderTopColor, s.padding,
              Math.round(r.height)]; })""")
    assert looks[0] == looks[1] == looks[2]
    widths = buttons.evaluate_all("els => els.map(b => b.getBoundingClientRect().width)")
    assert max(widths) - min(widths) <= 2
    page.get_by_role("button", name="Customize").click()
    toggles = page.locator(f"{PREFERENCES} input[type=checkbox]")
    states = toggles.evaluate_all("els => els.map(e => [e.name, e.checked, e.disabled])")
    assert states == [["necessary", True, True], ["preferences", False, False],
                      ["analytics", False, False], ["marketing", False, False]]


STRAY_TEXT = """sel => [...document.querySelectorAll(sel)].flatMap(root => {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT), found = [];
  while (walker.nextNode()) {
    const t = walker.currentNode.data.trim();
    if (/^(0|false|null|undefined|NaN)$/.test(t)) found.push(t);
  }
  return found; })"""


def test_no_stray_values_rendered_as_text(page, pages, site):
    """A falsy value (0, false, null) handed to the DOM builder must not show up as text."""
    page.goto(pages.shop(site))
    page.locator(BANNER).wait_for()
    assert page.evaluate(STRAY_TEXT, BANNER) == []
    page.get_by_role("button", name="Customize").click()
    assert page.evaluate(STRAY_TEXT, PREFERENCES) == []


def test_consent_mode_default_before_any_choice(page, pages, site):
    page.goto(pages.shop(site))
    page.locator(BANNER).wait_for()
    calls = consent_mode_calls(page)
    assert calls == [["consent", "default", {
        "ad_storage": "denied", "ad_user_data": "denied", "ad_personalization": "denied",
        "analytics_storage": "denied", "functionality_storage": "denied",
        "personalization_storage": "denied", "security_storage": "granted"}]]
    assert page.evaluate("typeof window.gtag") == "function"
