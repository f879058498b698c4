"""Which pages to visit: the start URLs, the shop's sitemap when it has one, then same-origin links
found on visited pages, breadth first, up to a maximum.

Pages are told apart by URL without its fragment. Only http(s) pages on a start URL's origin are
followed, and links to files a browser would download (PDFs, archives, images) are left out.
"""

from __future__ import annotations

import html
import re
from collections import deque
from collections.abc import Iterable
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from consent_service.scan.parties import origin_of

#: Run in the page: every link's resolved URL.
LINKS_SCRIPT = "() => Array.from(document.querySelectorAll('a[href], area[href]'), a => a.href)"
SKIPPED_EXTENSIONS = frozenset(
    "pdf zip gz tgz bz2 xz 7z rar tar dmg exe msi deb rpm apk iso jpg jpeg png gif webp svg ico bmp tif tiff "
    "mp3 mp4 m4a mov avi webm ogg wav flac woff woff2 ttf otf eot css js json xml txt csv doc docx xls xlsx "
    "ppt pptx".split())
MAX_SITEMAPS = 5
_LOC = re.compile(r"<loc>\s*([^<\s]+)\s*</loc>", re.IGNORECASE)


def normalize(url: str, base: str | None = None) -> str | None:
    """An absolute http(s) URL without fragment, scheme and host lowercased; None for anything else."""
    try:
        parts = urlsplit(urljoin(base, url) if base else url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    netloc = parts.netloc.rsplit("@", 1)[-1].lower()
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def crawlable(url: str, origins: set[str]) -> bool:
    """Same origin as a start URL, and not a file to download."""
    if origin_of(url) not in origins:
        return False
    last = urlsplit(url).path.rsplit("/", 1)[-1]
    return "." not in last or last.rsplit(".", 1)[-1].lower() not in SKIPPED_EXTENSIONS


class PageQueue:
    """Pages to visit in order, each once, never more than `max_pages` in all."""

    def __init__(self, start_urls: Iterable[str], max_pages: int) -> None:
        self.max_pages = max_pages
        self.origins: set[str] = set()
        self.planned: list[str] = []
        self._seen: set[str] = set()
        self._queue: deque[str] = deque()
        for url in start_urls:
            normalized = normalize(url)
            if normalized is None:
                raise ValueError(f"not an http(s) URL: {url!r}")
            self.origins.add(origin_of(normalized))
            self.add(normalized, force=True)

    def add(self, url: str, *, force: bool = False) -> bool:
        normalized = normalize(url)
        if normalized is None or normalized in self._seen or len(self.planned) >= self.max_pages:
            return False
        if not force and not crawlable(normalized, self.origins):
            return False
        self._seen.add(normalized)
        self.planned.append(normalized)
        self._queue.append(normalized)
        return True

    def add_all(self, urls: Iterable[str]) -> int:
        return sum(self.add(url) for url in urls)

    def next(self) -> str | None:
        return self._queue.popleft() if self._queue else None


def parse_sitemap(text: str) -> tuple[list[str], list[str]]:
    """(page URLs, nested sitemap URLs) of a sitemap or sitemap index (the <loc> entries; read with a
    pattern, not an XML parser, so an untrusted document cannot expand entities)."""
    locations = [html.unescape(loc) for loc in _LOC.findall(text)]
    if re.search(r"<sitemapindex[\s>]", text, re.IGNORECASE):
        return [], locations
    return locations, []


def robots_sitemaps(text: str) -> list[str]:
    return [line.split(":", 1)[1].strip() for line in text.splitlines()
            if line.lower().startswith("sitemap:") and line.split(":", 1)[1].strip()]


def sitemap_pages(request: Any, origin: str, timeout_ms: float = 5000) -> list[str]:
    """Page URLs from the origin's /sitemap.xml and the sitemaps robots.txt names (an index is
    followed one level). `request` is a Playwright APIRequestContext; failures mean no sitemap."""

    def fetch(url: str) -> str | None:
        try:
            response = request.get(url, timeout=timeout_ms, fail_on_status_code=False, max_redirects=3)
            return response.text() if response.ok else None
        except Exception:  # noqa: BLE001 (no sitemap is an answer, not an error)
            return None

    sitemaps = [origin + "/sitemap.xml"]
    robots = fetch(origin + "/robots.txt")
    if robots:
        sitemaps += [url for url in robots_sitemaps(robots) if url not in sitemaps]
    pages: list[str] = []
    fetched = 0
    while sitemaps and fetched < MAX_SITEMAPS:
        url = sitemaps.pop(0)
        if origin_of(url) != origin:
            continue
        fetched += 1
        text = fetch(url)
        if not text:
            continue
        found, nested = parse_sitemap(text)
        pages += [page for page in found if page not in pages]
        sitemaps += nested
    return pages
