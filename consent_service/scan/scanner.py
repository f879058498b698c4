"""The scan: pages from the start URLs, sitemap and links; every page in three fresh states; the
visits merged into entries, classified, and turned into findings.

    result = scan(["https://shop.example/"], config=config, max_pages=20,
                  interactions=[{"page": "/products/*", "click": "button.add-to-cart"}])
    result.exit_code  # 0 clean, 1 error-level findings; ScanError when it could not run (2)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from consent_service.scan.browser import chromium
from consent_service.scan.classify import Classifier
from consent_service.scan.crawler import PageQueue, sitemap_pages
from consent_service.scan.errors import ScanError
from consent_service.scan.findings import find
from consent_service.scan.model import (
    BEFORE,
    STATES,
    Entry,
    HostEntry,
    Interaction,
    ScanResult,
    Visit,
)
from consent_service.scan.parties import Parties
from consent_service.scan.visit import VisitPlan, visit

#: progress(done, total, label): visits done, visits planned so far, what was just visited.
Progress = Callable[[int, int, str], None]


def _merge_setter(entry: Entry, page: str, source: str, set_by: str | None, attribution: str,
                  via: tuple[str, ...], also: Iterable[str]) -> None:
    """Another page's evidence for the same item and state: an observed setter replaces an inferred
    one; another setter is added to `also_set_by` unless it is that page itself (its own response or
    inline script: the same setter on every page, not another one)."""
    if entry.attribution == "inferred" and attribution == "observed":
        entry.source, entry.set_by, entry.attribution, entry.via = source, set_by, "observed", via
        return
    others = [set_by] if set_by != page else []
    extra = [url for url in [*others, *also] if url and url != entry.set_by and url not in entry.also_set_by]
    entry.also_set_by = entry.also_set_by + tuple(extra)


def merge_cookies(visits: Sequence[Visit], classifier: Classifier, now: float | None = None) -> list[Entry]:
    """One entry per cookie (name, domain) and state, listing the pages it was in the jar on."""
    now = time.time() if now is None else now
    entries: dict[tuple[str, str, str], Entry] = {}
    for seen in (cookie for v in visits for cookie in v.cookies):
        key = (seen.name, seen.domain, seen.state)
        entry = entries.get(key)
        if entry is None:
            entries[key] = Entry(
                type="cookie", name=seen.name, domain=seen.domain, state=seen.state, pages=[seen.page],
                source=seen.source, set_by=seen.set_by, attribution=seen.attribution,
                classification=classifier.classify(seen.name), via=seen.via, also_set_by=seen.also_set_by,
                path=seen.path, http_only=seen.http_only, secure=seen.secure, same_site=seen.same_site,
                lifetime_seconds=None if seen.expires is None else max(0, round(seen.expires - now)),
                partition_key=seen.partition_key, third_party=seen.third_party)
            continue
        if seen.page not in entry.pages:
            entry.pages.append(seen.page)
        _merge_setter(entry, seen.page, seen.source, seen.set_by, seen.attribution, seen.via, seen.also_set_by)
    return list(entries.values())


def merge_storage(visits: Sequence[Visit], classifier: Classifier) -> list[Entry]:
    """One entry per storage key or database (kind, origin, name) and state."""
    entries: dict[tuple[str, str, str, str], Entry] = {}
    for seen in (item for v in visits for item in v.storage):
        key = (seen.kind, seen.origin, seen.name, seen.state)
        entry = entries.get(key)
        if entry is None:
            entries[key] = Entry(
                type=seen.kind, name=seen.name, domain=seen.domain, state=seen.state, pages=[seen.page],
                source="script", set_by=seen.set_by, attribution=seen.attribution,
                classification=classifier.classify(seen.name, storage=True), via=seen.via,
                origin=seen.origin, third_party=seen.third_party)
            continue
        if seen.page not in entry.pages:
            entry.pages.append(seen.page)
        _merge_setter(entry, seen.page, "script", seen.set_by, seen.attribution, seen.via, ())
    return list(entries.values())


def merge_hosts(visits: Sequence[Visit]) -> list[HostEntry]:
    """One entry per third-party host and state."""
    entries: dict[tuple[str, str], HostEntry] = {}
    for seen in (host for v in visits for host in v.hosts):
        entry = entries.setdefault((seen.host, seen.state), HostEntry(
            host=seen.host, state=seen.state, pages=[], examples=[], resource_types=[], requests=0,
            consent_service=seen.consent_service))
        if seen.page not in entry.pages:
            entry.pages.append(seen.page)
        if seen.example not in entry.examples and len(entry.examples) < 5:
            entry.examples.append(seen.example)
        entry.resource_types = sorted(set(entry.resource_types) | set(seen.resource_types))
        entry.requests += seen.count
    return sorted(entries.values(), key=lambda e: (STATES.index(e.state), e.host))


def _page_summaries(planned: list[str], found_by: dict[str, str], visits: Sequence[Visit]) -> list[dict[str, Any]]:
    pages = []
    for url in planned:
        states = {}
        for v in visits:
            if v.page == url:
                states[v.state] = {"status": v.status, "final_url": v.final_url, "banner_shown": v.banner_shown,
                                   "choice": v.choice, "choice_page": v.choice_page,
                                   "consent_cookie": v.consent_cookie, "error": v.error, "notes": v.notes,
                                   "seconds": round(v.seconds, 3)}
        if states:
            pages.append({"url": url, "found_by": found_by.get(url, "link"), "states": states})
    return pages


def _notes(visits: Sequence[Visit]) -> list[str]:
    notes: list[str] = []

    def add(note: str) -> None:
        if note not in notes:
            notes.append(note)

    for v in visits:
        if v.error:
            add(f"{v.page} ({v.state}) could not be loaded: {v.error}")
        if v.choice == "api":
            add(f"{v.page} ({v.state}): the banner's '{v.state}' button was not found by its declared text; "
                f"the choice was made through the window.consent API")
        if v.choice and not v.consent_cookie:
            add(f"{v.page} ({v.state}): the consent cookie was not written (did the service answer?); the "
                f"choice applied in the browser only")
        if v.choice_page:
            add(f"{v.page} shows no banner; its '{v.state}' choice was made on {v.choice_page}")
        for note in v.notes:
            add(note)
    return notes


def scan(start_urls: Sequence[str], *, config: dict[str, Any], max_pages: int = 20,
         interactions: Iterable[Interaction | dict[str, Any]] = (), progress: Progress | None = None,
         browser: Any = None, third_party_cookies: bool = True, first_party_hosts: Iterable[str] = (),
         sitemap: bool = True, screenshots: str = "first", timeout_ms: float = 15000, settle_ms: float = 5000,
         banner_timeout_ms: float = 5000, locale: str = "en-US") -> ScanResult:
    """Scan a shop: `config` is the site's public configuration as the service serves it.

    `browser`: a running Playwright Browser to use (else Chromium is started and stopped here).
    `screenshots`: "first" (the first page in each state), "all" or "none".
    Raises ScanError when the scan cannot run: no browser, a start URL that does not load, no banner.
    """
    if not start_urls:
        raise ScanError("nothing to scan: give at least one start URL")
    if max_pages < 1:
        raise ScanError("the maximum number of pages must be at least 1")
    if screenshots not in ("first", "all", "none"):
        raise ValueError("screenshots must be 'first', 'all' or 'none'")
    try:
        steps = [Interaction.from_value(step) for step in interactions]
        queue = PageQueue(start_urls, max(max_pages, len(start_urls)))
    except ValueError as error:
        raise ScanError(str(error)) from None
    starts = list(queue.planned)
    found_by = {url: "start" for url in starts}
    parties = Parties(starts, first_party_hosts, config.get("service"))
    classifier = Classifier(config)
    plan = VisitPlan(config=config, parties=parties, interactions=steps, timeout_ms=timeout_ms,
                     settle_ms=settle_ms, banner_timeout_ms=banner_timeout_ms, locale=locale)
    started = time.time()
    visits: list[Visit] = []
    running_context = contextlib.nullcontext(browser) if browser is not None else chromium(
        third_party_cookies=third_party_cookies)
    with running_context as running:
        browser_version = getattr(running, "version", None)
        if sitemap:
            probe = running.new_context()
            try:
                for origin in sorted(queue.origins):
                    for url in sitemap_pages(probe.request, origin):
                        if queue.add(url):
                            found_by[url] = "sitemap"
            finally:
                probe.close()
        choice_page: str | None = None
        skipped = 0
        while (url := queue.next()) is not None:
            for state in STATES:
                shot = screenshots == "all" or (screenshots == "first" and url == starts[0])
                result = visit(running, url, state, plan, screenshot=shot, choice_page=choice_page)
                visits.append(result)
                if state == BEFORE:
                    if result.error and found_by.get(url) == "start":
                        raise ScanError(f"cannot reach {url}: {result.error}")
                    if result.banner_shown and choice_page is None:
                        choice_page = url
                    if choice_page is None and url == starts[0]:
                        raise ScanError(f"banner not found on {url}: the consent banner did not show within "
                                        f"{banner_timeout_ms / 1000:.0f} s; is its script tag on the page, and is "
                                        f"the page's origin among those declared for site "
                                        f"'{config.get('site')}'?")
                for link in result.links:
                    if queue.add(link):
                        found_by.setdefault(link, "link")
                failed = bool(result.error) and state == BEFORE
                skipped += len(STATES) - 1 if failed else 0
                if progress is not None:
                    progress(len(visits), len(queue.planned) * len(STATES) - skipped, f"{state:<6} {url}")
                if failed:
                    break
    finished = time.time()
    cookies = merge_cookies(visits, classifier)
    storage = merge_storage(visits, classifier)
    hosts = merge_hosts(visits)
    return ScanResult(
        site=str(config.get("site", "")), policy_version=config.get("policy_version"),
        service=config.get("service"), start_urls=starts, started_at=started, finished_at=finished,
        settings={"max_pages": max_pages, "interactions": [{"page": s.page, "click": s.click} for s in steps],
                  "third_party_cookies": third_party_cookies, "sitemap": sitemap, "locale": locale,
                  "settle_ms": settle_ms, "first_party_hosts": sorted(parties.sites)},
        pages=_page_summaries(queue.planned, found_by, visits), visits=visits, cookies=cookies, storage=storage,
        third_parties=hosts, findings=find(cookies + storage, hosts, classifier), notes=_notes(visits),
        browser_version=browser_version)
