"""The compliance check a shop runs in its own CI (docs/scanner.md, "In the shop's own CI"), run here
as the docs show it against the demo shop: it finds exactly the violations planted on /deals, and the
real cases of the clean pages (a third-party embed with its own cookie, cookies set only after a
click, a localStorage key) in the states where the visitor's choice allows them, and nothing else."""

from __future__ import annotations

import re
import tomllib
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest

from consent_service.scan import ACCEPT, BEFORE, REJECT
from tests.support import DEMO_TOML, ROOT

pytestmark = pytest.mark.slow
DEALS = ("/deals",)


def docs_snippet() -> dict[str, Any]:
    """The Python block of the docs' CI section, executed: its `violations` is what this test calls."""
    docs = (ROOT / "docs" / "scanner.md").read_text(encoding="utf-8")
    section = docs.split("### In the shop's own CI", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "the CI section shows its snippet"
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "docs/scanner.md", "exec"), namespace)  # noqa: S102 (our own docs)
    return namespace


@pytest.fixture(scope="module")
def demo_scan(demo_servers: Any) -> tuple[int, set[Any], Any]:
    """One scan of the demo shop through the docs' snippet, with the demo's [scan] clicks; the full
    result is captured too, to check what the clean pages set."""
    namespace = docs_snippet()
    captured: list[Any] = []
    scan = namespace["scan"]

    def keeping(*args: Any, **kwargs: Any) -> Any:
        captured.append(scan(*args, **kwargs))
        return captured[-1]

    namespace["scan"] = keeping
    interactions = tomllib.loads(DEMO_TOML.read_text(encoding="utf-8"))["scan"]["interactions"]
    # In a thread of its own: Playwright's sync API allows one instance per thread (the browser tests'
    # Chromium may hold this one).
    with ThreadPoolExecutor(1, thread_name_prefix="scan") as pool:
        status, found = pool.submit(namespace["violations"], demo_servers.service_url, "demo",
                                    demo_servers.shop_url + "/", interactions).result(timeout=600)
    return status, found, captured[0]


def test_the_scan_finds_exactly_the_violations_planted_on_the_deals_page(demo: Any, demo_scan: Any) -> None:
    status, found, _ = demo_scan
    partner = urlsplit(demo.partner_url).hostname
    assert found == {
        ("third_party_before_consent", partner, BEFORE, DEALS),
        ("undeclared", "_gid", BEFORE, DEALS), ("before_consent", "_gid", BEFORE, DEALS),
        ("after_refusal", "_gid", REJECT, DEALS),
    }
    assert status == 1


def test_nothing_else_is_reported_and_every_declaration_is_seen(demo_scan: Any) -> None:
    result = demo_scan[2]
    assert [f for f in result.findings if f.level != "error"] == []
    pages = {urlsplit(page["url"]).path for page in result.pages}
    assert {"/", "/deals", "/cart", "/login", "/privacy", "/products/db-studio"} <= pages
    assert all(visit.error is None and visit.status == 200 for visit in result.visits)
    # Every declared click found its button (on every product page, in every state).
    notes = [note for visit in result.visits for note in visit.notes] + list(result.notes)
    assert not [note for note in notes if "interaction" in note], notes


def test_the_clean_pages_real_cases_are_found_where_the_choice_allows_them(demo: Any, demo_scan: Any) -> None:
    result = demo_scan[2]
    shop, partner = demo.shop_url, demo.partner_url
    cookies = {(c.name, c.state): c for c in result.cookies if c.domain != "127.0.0.2"}
    # A third party's iframe on another loopback origin, with its own cookie: held back until accepted.
    video = next(c for c in result.cookies if (c.name, c.domain, c.state) == ("ad_id", "127.0.0.2", ACCEPT))
    assert (video.domain, video.source, video.third_party) == ("127.0.0.2", "http", True)
    assert {c.state for c in result.cookies if c.domain == "127.0.0.2"} == {ACCEPT}
    assert video.set_by.startswith(partner + "/video/")
    # Set only after the "Add to wishlist" click, by the server; the guard drops it without preferences.
    wishlist = cookies[("saved", ACCEPT)]
    assert (wishlist.source, wishlist.set_by) == ("http", shop + "/wishlist")
    # A localStorage key written by the held-back advertising script, on every page.
    storage = {(s.name, s.state): s for s in result.storage}
    assert storage[("ad_id", ACCEPT)].set_by.startswith(shop + "/")
    for name in ("saved", "_ga", "_ga_XYZ", "currency", "ad_id"):
        assert {state for (n, state) in cookies if n == name} == {ACCEPT}, name
    assert {state for (n, state) in storage if n == "ad_id"} == {ACCEPT}
    # The violation's cookie comes from the partner's tag, on /deals only, in every state; no other
    # analytics cookie is there before a choice or after "Reject all".
    for state in (BEFORE, REJECT, ACCEPT):
        entry = cookies[("_gid", state)]
        assert entry.set_by == partner + "/analytics.js" and [urlsplit(p).path for p in entry.pages] == ["/deals"]
    assert {name for (name, state) in cookies if state != ACCEPT} == {"session", "cart", "csrf_token", "consent",
                                                                      "_gid"}
