"""What a scan observes and concludes, as plain records (no browser objects, no values of cookies).

A *visit* is one page in one fresh browser state; it yields the cookies in the jar and the storage
keys at its end, each with the evidence of who set it. The scanner then merges visits into *entries*
(one per item and state, listing the pages it was seen on) and derives *findings* from them.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

BEFORE, REJECT, ACCEPT = "before", "reject", "accept"
#: The three browser states every page is visited in, in the order they are reported.
STATES = (BEFORE, REJECT, ACCEPT)

Source = Literal["http", "script"]
StorageKind = Literal["localStorage", "sessionStorage", "indexedDB"]


@dataclass(frozen=True)
class Interaction:
    """A step a visitor takes that may set cookies (add to cart): click `click` on pages matching `page`.

    `page` is a glob over the page's path (when it starts with '/') or its whole URL; none means every
    page. Steps run after the page has loaded, in every state, in the order declared.
    """

    click: str
    page: str | None = None

    @classmethod
    def from_value(cls, value: Interaction | dict[str, Any]) -> Interaction:
        if isinstance(value, Interaction):
            return value
        if not isinstance(value, dict) or not isinstance(value.get("click"), str) or not value["click"].strip():
            raise ValueError(f"an interaction needs a CSS selector under 'click': {value!r}")
        page = value.get("page")
        if page is not None and not isinstance(page, str):
            raise ValueError(f"an interaction's 'page' must be a URL or path glob: {value!r}")
        unknown = set(value) - {"click", "page"}
        if unknown:
            raise ValueError(f"unknown interaction keys {sorted(unknown)}: {value!r}")
        return cls(click=value["click"].strip(), page=page or None)

    def applies_to(self, url: str) -> bool:
        if self.page is None:
            return True
        if self.page.startswith("/"):
            parts = urlsplit(url)
            target = parts.path + ("?" + parts.query if parts.query else "")
            return fnmatch.fnmatchcase(target, self.page) or fnmatch.fnmatchcase(parts.path, self.page)
        return fnmatch.fnmatchcase(url, self.page)


@dataclass(frozen=True)
class Evidence:
    """Who set an item: an HTTP response (`http`, its URL) or a script (`script`, the script's URL).

    `seq` orders all evidence of one visit as the browser reported it; the earliest setter wins.
    `via` lists the further scripts on the call stack (the one that inserted inline code, say).
    """

    source: Source
    url: str | None
    seq: int
    via: tuple[str, ...] = ()


@dataclass(frozen=True)
class CookieSeen:
    """A cookie in the jar at the end of one visit (its value is never read into the scan)."""

    name: str
    domain: str
    path: str
    state: str
    page: str
    source: Source
    set_by: str | None
    attribution: Literal["observed", "inferred"]
    via: tuple[str, ...] = ()
    also_set_by: tuple[str, ...] = ()
    http_only: bool = False
    secure: bool = False
    same_site: str | None = None
    expires: float | None = None
    partition_key: str | None = None
    third_party: bool = False


@dataclass(frozen=True)
class StorageSeen:
    """A localStorage or sessionStorage key, or an IndexedDB database, at the end of one visit."""

    kind: StorageKind
    name: str
    origin: str
    state: str
    page: str
    set_by: str | None
    attribution: Literal["observed", "inferred"]
    via: tuple[str, ...] = ()
    third_party: bool = False

    @property
    def domain(self) -> str:
        return urlsplit(self.origin).hostname or self.origin


@dataclass(frozen=True)
class HostSeen:
    """A host other than the shop's own that the page requested during one visit."""

    host: str
    state: str
    page: str
    example: str
    resource_types: tuple[str, ...]
    count: int
    consent_service: bool = False


@dataclass
class Visit:
    """One page in one fresh browser state, and everything seen there."""

    page: str
    state: str
    status: int | None = None
    final_url: str | None = None
    banner_shown: bool = False
    choice: Literal["button", "api"] | None = None
    choice_page: str | None = None
    consent_cookie: bool = False
    cookies: list[CookieSeen] = field(default_factory=list)
    storage: list[StorageSeen] = field(default_factory=list)
    hosts: list[HostSeen] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    screenshot: bytes | None = None
    seconds: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class Classification:
    """What a name is: the site's declaration first, then the cookie database, else unknown.

    `category` is the one findings use: the declared category when declared, else the database's
    (mapped to the site's categories; `review` when the database's "Functional" leaves it open),
    else `unknown`. `builtin` marks the consent banner's own storage, which a site cannot declare.
    """

    category: str
    declared: bool
    declared_category: str | None = None
    declaration: str | None = None
    known_category: str | None = None
    known: dict[str, str] | None = None
    builtin: bool = False


@dataclass
class Entry:
    """One cookie or storage item in one state, merged over the pages it was seen on."""

    type: Literal["cookie", "localStorage", "sessionStorage", "indexedDB"]
    name: str
    domain: str
    state: str
    pages: list[str]
    source: Source
    set_by: str | None
    attribution: Literal["observed", "inferred"]
    classification: Classification
    via: tuple[str, ...] = ()
    also_set_by: tuple[str, ...] = ()
    origin: str | None = None
    path: str | None = None
    http_only: bool | None = None
    secure: bool | None = None
    same_site: str | None = None
    lifetime_seconds: int | None = None
    partition_key: str | None = None
    third_party: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        """The item's identity across states and pages."""
        return (self.type, self.name, self.domain if self.type == "cookie" else (self.origin or self.domain))


@dataclass
class HostEntry:
    """A third-party host requested in one state, merged over pages."""

    host: str
    state: str
    pages: list[str]
    examples: list[str]
    resource_types: list[str]
    requests: int
    consent_service: bool = False


@dataclass(frozen=True)
class Finding:
    """Something that breaks (or may break) the site's declarations or its visitors' choices."""

    kind: str
    level: Literal["error", "warning", "info"]
    name: str
    domain: str | None
    state: str | None
    page: str | None
    message: str
    item: str = "cookie"
    pages: tuple[str, ...] = ()
    category: str | None = None
    declared_category: str | None = None
    known_category: str | None = None


@dataclass
class ScanResult:
    """Everything a scan found; `report.to_json` and `report_html.render` turn it into documents."""

    site: str
    policy_version: int | None
    service: str | None
    start_urls: list[str]
    started_at: float
    finished_at: float
    settings: dict[str, Any]
    pages: list[dict[str, Any]]
    visits: list[Visit]
    cookies: list[Entry]
    storage: list[Entry]
    third_parties: list[HostEntry]
    findings: list[Finding]
    notes: list[str] = field(default_factory=list)
    browser_version: str | None = None

    @property
    def exit_code(self) -> int:
        """0 when clean, 1 when any finding is at error level (2, could not run, is a ScanError)."""
        return 1 if any(finding.level == "error" for finding in self.findings) else 0

    @property
    def visits_per_minute(self) -> float:
        seconds = max(self.finished_at - self.started_at, 1e-6)
        return len(self.visits) * 60.0 / seconds
