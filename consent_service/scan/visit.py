"""One visit: a page in a fresh browser context, in one state.

before: load the page and wait for the banner. reject/accept: load it, make the choice through the
banner, then load it again so that what the server sets under the new choice is seen. Then, in every
state, the declared interactions, and at the end the jar, every frame's storage and the hosts
requested (for reject/accept, those requested after the choice).

Every load waits for the `load` event and then for the network to go quiet (Playwright's
`networkidle`: no request for 500 ms), at most `settle_ms`, so that late scripts and their cookies
are in.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from consent_service.scan import banner
from consent_service.scan.attribution import attribute_cookies, attribute_storage
from consent_service.scan.crawler import LINKS_SCRIPT, normalize
from consent_service.scan.errors import ScanError
from consent_service.scan.instrument import STORAGE_SCRIPT, Recorder
from consent_service.scan.model import BEFORE, HostSeen, Interaction, Visit
from consent_service.scan.parties import Parties, host_of


@dataclass
class VisitPlan:
    """What every visit of one scan shares."""

    config: dict[str, Any]
    parties: Parties
    interactions: list[Interaction] = field(default_factory=list)
    timeout_ms: float = 15000
    settle_ms: float = 5000
    banner_timeout_ms: float = 5000
    locale: str = "en-US"
    viewport: dict[str, int] = field(default_factory=lambda: {"width": 1280, "height": 800})


def settle(page: Any, settle_ms: float) -> None:
    """Wait for the network to go quiet, at most settle_ms (a page that polls never does)."""
    with contextlib.suppress(Exception):
        page.wait_for_load_state("networkidle", timeout=settle_ms)


def load(page: Any, url: str, settle_ms: float) -> Any:
    """Navigate and settle; returns the main response (None for same-document navigations)."""
    response = page.goto(url, wait_until="load")
    settle(page, settle_ms)
    return response


def interact(page: Any, step: Interaction, plan: VisitPlan, notes: list[str]) -> None:
    """Click the step's selector like a visitor; a covered element gets a plain click event instead."""
    target = page.locator(step.click).first
    wait = min(plan.timeout_ms, 5000)
    try:
        target.wait_for(state="attached", timeout=wait)
    except Exception:  # noqa: BLE001
        notes.append(f"interaction {step.click!r}: nothing matches on {page.url}")
        return
    try:
        target.click(timeout=wait)
    except Exception:  # noqa: BLE001 (covered by the banner, or not visible)
        try:
            target.dispatch_event("click")
            notes.append(f"interaction {step.click!r}: not clickable on {page.url}; sent a click event")
        except Exception as error:  # noqa: BLE001
            notes.append(f"interaction {step.click!r} failed on {page.url}: {str(error).splitlines()[0]}")
            return
    with contextlib.suppress(Exception):
        page.wait_for_load_state("load", timeout=plan.timeout_ms)
    settle(page, plan.settle_ms)


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def hosts_requested(requests: list[tuple[int, str, str]], phase: int, *, state: str, page: str,
                    parties: Parties) -> list[HostSeen]:
    """Third-party hosts among the requests of `phase`, with a count and a first URL (no query)."""
    grouped: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for request_phase, url, resource_type in requests:
        if request_phase != phase or not url.startswith(("http://", "https://")):
            continue
        host = host_of(url)
        if host and not parties.first_party(host):
            grouped[host].append((url, resource_type))
    return [HostSeen(host=host, state=state, page=page, example=_without_query(seen[0][0]),
                     resource_types=tuple(sorted({kind for _, kind in seen})), count=len(seen),
                     consent_service=parties.is_service(host))
            for host, seen in grouped.items()]


def _storage(context: Any) -> list[dict[str, Any]]:
    frames = []
    for tab in context.pages:
        for frame in tab.frames:
            if not frame.url.startswith(("http://", "https://")):
                continue
            with contextlib.suppress(Exception):
                frames.append(frame.evaluate(STORAGE_SCRIPT))
    return frames


def visit(browser: Any, url: str, state: str, plan: VisitPlan, *, screenshot: bool = False,
          choice_page: str | None = None) -> Visit:
    """Visit `url` in `state` in a fresh context. A page that cannot be loaded comes back with
    `error` set; a banner that cannot make the choice raises ScanError."""
    started = time.monotonic()
    result = Visit(page=url, state=state)
    context = browser.new_context(locale=plan.locale, viewport=plan.viewport)
    try:
        recorder = Recorder(context)
        page = context.new_page()
        page.set_default_timeout(plan.timeout_ms)
        page.set_default_navigation_timeout(plan.timeout_ms)
        try:
            response = load(page, url, plan.settle_ms)
            result.banner_shown = banner.wait_shown(page, plan.banner_timeout_ms)
            if state != BEFORE:
                if not result.banner_shown and choice_page and choice_page != url:
                    load(page, choice_page, plan.settle_ms)
                    banner.wait_shown(page, plan.banner_timeout_ms)
                    result.choice_page = choice_page
                result.choice, result.consent_cookie = banner.choose(page, recorder, plan.config, state,
                                                                     timeout_ms=plan.banner_timeout_ms)
                recorder.phase = 1
                response = load(page, url, plan.settle_ms)
        except ScanError:
            raise
        except Exception as error:  # noqa: BLE001 (navigation failed: the caller decides what it means)
            result.error = str(error).splitlines()[0] if str(error) else type(error).__name__
            return result
        result.status = response.status if response is not None else None
        result.final_url = page.url
        with contextlib.suppress(Exception):
            result.links = [link for link in (normalize(href) for href in page.evaluate(LINKS_SCRIPT)) if link]
        if screenshot:
            with contextlib.suppress(Exception):
                result.screenshot = page.screenshot(type="png")
        for step in plan.interactions:
            if step.applies_to(url):
                interact(page, step, plan, result.notes)
        frames = _storage(context)
        jar = context.cookies()
        result.cookies = attribute_cookies(jar, recorder.http_writes(), recorder.events, state=state, page=url,
                                           parties=plan.parties)
        result.storage = attribute_storage(frames, recorder.events, state=state, page=url, parties=plan.parties)
        result.hosts = hosts_requested(recorder.requests, recorder.phase, state=state, page=url,
                                       parties=plan.parties)
        return result
    finally:
        with contextlib.suppress(Exception):
            context.close()
        result.seconds = time.monotonic() - started
