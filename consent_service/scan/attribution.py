"""Joining what is in the browser at the end of a visit with the evidence of who put it there.

The jar (`context.cookies()`, every domain) and the storage each frame's origin holds are the truth:
an item counts only if it is there. The recorded writes only say who set it. For a cookie, the writes
that count are those to the same name and domain after its last deletion; the earliest is `set_by`,
any others `also_set_by`. A cookie nobody was seen setting is *inferred*: HttpOnly means an HTTP
response (scripts cannot write HttpOnly cookies); otherwise a script, because every HTTP response of
the context is read but a few script contexts are not instrumented (workers, for one).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from consent_service.scan.instrument import ScriptEvent
from consent_service.scan.model import CookieSeen, Evidence, StorageSeen
from consent_service.scan.parties import Parties, host_of
from consent_service.scan.setcookie import CookieWrite, normalize_domain


def _cookie_evidence(http_writes: Iterable[tuple[int, CookieWrite, str]],
                     events: Iterable[ScriptEvent]) -> dict[tuple[str, str], list[Evidence]]:
    timeline: list[tuple[int, CookieWrite, Evidence]] = []
    for seq, write, url in http_writes:
        timeline.append((seq, write, Evidence("http", url, seq)))
    for event in events:
        if event.cookie is not None:
            timeline.append((event.seq, event.cookie, Evidence("script", event.caller.url, event.seq,
                                                               event.caller.via)))
    setters: dict[tuple[str, str], list[Evidence]] = defaultdict(list)
    for _, write, evidence in sorted(timeline, key=lambda item: item[0]):
        key = (write.name, write.domain)
        if write.deletion:
            setters[key] = []
        else:
            setters[key].append(evidence)
    return setters


def _distinct(urls: Iterable[str | None], leave_out: str | None) -> tuple[str, ...]:
    seen: list[str] = []
    for url in urls:
        if url and url != leave_out and url not in seen:
            seen.append(url)
    return tuple(seen)


def attribute_cookies(jar: list[dict[str, Any]], http_writes: Iterable[tuple[int, CookieWrite, str]],
                      events: Iterable[ScriptEvent], *, state: str, page: str,
                      parties: Parties) -> list[CookieSeen]:
    """One CookieSeen per cookie in the jar, with its setter (observed, or inferred as documented)."""
    setters = _cookie_evidence(http_writes, events)
    seen = []
    for cookie in jar:
        domain = normalize_domain(cookie.get("domain", ""))
        evidence = setters.get((cookie["name"], domain), [])
        http_only = bool(cookie.get("httpOnly"))
        if evidence:
            first = evidence[0]
            source, set_by, via, attribution = first.source, first.url, first.via, "observed"
            also = _distinct((e.url for e in evidence[1:]), set_by)
        else:
            source, set_by, via, attribution, also = ("http" if http_only else "script"), None, (), "inferred", ()
        expires = cookie.get("expires")
        seen.append(CookieSeen(
            name=cookie["name"], domain=domain, path=cookie.get("path") or "/", state=state, page=page,
            source=source, set_by=set_by, attribution=attribution, via=via, also_set_by=also,
            http_only=http_only, secure=bool(cookie.get("secure")), same_site=cookie.get("sameSite"),
            expires=float(expires) if isinstance(expires, int | float) and expires > 0 else None,
            partition_key=cookie.get("partitionKey") or None,
            third_party=not parties.first_party(domain),
        ))
    return seen


def attribute_storage(frames: list[dict[str, Any]], events: Iterable[ScriptEvent], *, state: str, page: str,
                      parties: Parties) -> list[StorageSeen]:
    """One StorageSeen per key (or IndexedDB database) per origin, with the script that created it."""
    writers: dict[tuple[str, str, str], list[ScriptEvent]] = defaultdict(list)
    for event in events:
        if event.cookie is None:
            writers[(event.kind, event.origin, event.name)].append(event)
    seen: dict[tuple[str, str, str], StorageSeen] = {}
    for frame in frames:
        origin = frame.get("origin")
        if not isinstance(origin, str) or not origin.startswith(("http://", "https://")):
            continue
        for kind in ("localStorage", "sessionStorage", "indexedDB"):
            for name in frame.get(kind) or []:
                key = (kind, origin, str(name))
                if key in seen:
                    continue
                found = sorted(writers.get(key, []), key=lambda e: e.seq)
                if found:
                    first = found[0]
                    set_by, via, attribution = first.caller.url, first.caller.via, "observed"
                else:
                    set_by, via, attribution = None, (), "inferred"
                seen[key] = StorageSeen(kind=kind, name=str(name), origin=origin, state=state, page=page,
                                        set_by=set_by, attribution=attribution, via=via,
                                        third_party=not parties.first_party(host_of(origin)))
    return list(seen.values())
