"""Coming back: a valid token means no banner and granted scripts at once; a new policy version or
an expired token brings the banner back; a choice in one tab reaches the others."""

from __future__ import annotations

import time

import pytest

from tests.support.banner_pages import BANNER, cookie, wait_for_record, wait_until

HELD = ('<script>window.ran = [];</script>'
        '<script type="text/plain" data-consent="analytics">window.ran.push("analytics")</script>'
        '<script type="text/plain" data-consent="marketing">window.ran.push("marketing")</script>')


def choose(page, context, service, site, button="Accept all"):
    page.get_by_role("button", name=button).click()
    wait_for_record(service, site, 1, page)
    for _ in range(100):
        if cookie(context, "consent"):
            return
        page.wait_for_timeout(25)
    raise AssertionError("no consent cookie")


def service_cookie(context, pages, service, site, *, granted, expires_at, policy_version=1):
    """A genuine token of the service for this site, put in the browser's jar."""
    from tests.support.tokens import issue, service_issuer

    token = issue(service_issuer(service.app, site), granted=granted, policy_version=policy_version,
                  expires_at=expires_at, visitor_id="01JAAAAAAAAAAAAAAAAAAAAAAA")
    context.add_cookies([{"name": "consent", "value": token, "url": pages.origin}])


def test_return_visit_runs_granted_scripts_without_banner(page, context, pages, service, site):
    page.goto(pages.shop(site, HELD))
    page.get_by_role("button", name="Customize").click()
    page.get_by_role("switch", name="Analytics").check()
    page.get_by_role("button", name="Save choices").click()
    wait_for_record(service, site, 1, page)
    wait_until(page, "document.cookie.includes('consent=')")
    page.goto(pages.shop(site, HELD))
    wait_until(page, "window.consent && window.consent.get().decided")
    assert page.locator(BANNER).count() == 0
    assert page.evaluate("window.ran") == ["analytics"]
    assert len(service.records(site)) == 1, "a return visit records nothing"


def test_valid_and_expired_tokens(page, context, pages, service, site):
    service_cookie(context, pages, service, site, granted=["necessary", "marketing"], expires_at=time.time() + 3600)
    page.goto(pages.shop(site, HELD))
    wait_until(page, "window.ran.length === 1")
    assert page.evaluate("window.ran") == ["marketing"]
    assert page.locator(BANNER).count() == 0

    service_cookie(context, pages, service, site, granted=["necessary", "marketing"], expires_at=time.time() - 1)
    page.goto(pages.shop(site, HELD))
    page.locator(BANNER).wait_for()
    assert page.evaluate("window.ran") == []


@pytest.mark.slow
def test_new_policy_version_asks_again(page, context, pages, service, site):
    page.goto(pages.shop(site, HELD))
    choose(page, context, service, site)

    def retitle(raw):
        raw["texts"]["en"]["title"] = "Our cookies have changed"

    service.site(site, edit=retitle)
    assert service.config(site)["policy_version"] == 2
    # A fresh URL stands in for the banner's short cache having run out.
    page.goto(pages.shop(site, HELD, query="v=2"))
    page.get_by_role("dialog", name="Our cookies have changed").wait_for()
    assert page.evaluate("window.ran") == []
    page.get_by_role("button", name="Reject all").click()
    records = wait_for_record(service, site, 2, page)
    assert [r["policy_version"] for r in records] == [1, 2]
    assert records[0]["visitor_id"] == records[1]["visitor_id"], "the old token keeps the visitor id"


@pytest.mark.slow
def test_choice_syncs_across_tabs(context, pages, service, site):
    url = pages.shop(site, HELD)
    first, second = context.new_page(), context.new_page()
    first.goto(url)
    second.goto(url)
    second.locator(BANNER).wait_for()
    changes = []
    second.expose_function("noteChange", lambda detail: changes.append(detail))
    second.evaluate("document.addEventListener('consent:change', e => noteChange(e.detail))")
    first.get_by_role("button", name="Accept all").click()
    second.locator(BANNER).wait_for(state="detached")
    wait_until(second, "window.ran.length === 2")
    assert second.evaluate("window.consent.has('marketing')") is True
    for _ in range(40):
        if changes:
            break
        second.wait_for_timeout(25)
    assert changes and changes[0]["choices"]["analytics"] is True
    wait_for_record(service, site, 1, first)
    second.wait_for_timeout(300)
    assert len(service.records(site)) == 1, "only the tab that chose records"
