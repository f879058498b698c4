"""A site's cookie declarations compiled for the guard: which category a cookie name belongs to.
Pure standard library. (Whether a `Set-Cookie` deletes its cookie is set_cookie.py's question.)"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..cookie_patterns import NECESSARY, glob_matches, pattern_parts

_CACHE_LIMIT = 4096


class CookieRules:
    """Declarations compiled for fast lookups: cookie name -> category, plus the site's cookie settings."""

    def __init__(self, categories: Iterable[str], cookies: Iterable[Mapping[str, Any]], *,
                 cookie_name: str = "consent", cookie_domain: str = "",
                 policy_version: int | None = None, source: str = "") -> None:
        self.categories = frozenset(categories) | {NECESSARY}
        self.cookie_name = cookie_name
        self.cookie_domain = cookie_domain or ""
        self.policy_version = policy_version
        self.source = source
        self.exact: dict[str, str] = {}
        self.patterns: list[tuple[str, str, str]] = []
        for cookie in cookies:
            if "name" in cookie:
                self.exact.setdefault(cookie["name"], cookie["category"])
            elif (parts := pattern_parts(cookie["pattern"])) is not None:
                self.patterns.append((*parts, cookie["category"]))
            else:
                self.exact.setdefault(cookie["pattern"], cookie["category"])
        # The consent cookie carries the choice itself: it is necessary whatever the file says.
        self.exact[cookie_name] = NECESSARY
        self._memo: dict[str, str | None] = {}

    def category_of(self, name: str) -> str | None:
        """The declared category of a cookie name, or None when no declaration covers it."""
        try:
            return self._memo[name]
        except KeyError:
            pass
        category = self.exact.get(name)
        if category is None:
            for prefix, suffix, pattern_category in self.patterns:
                if glob_matches(prefix, suffix, name):
                    category = pattern_category
                    break
        if len(self._memo) >= _CACHE_LIMIT:
            self._memo.clear()
        self._memo[name] = category
        return category

    @classmethod
    def from_site_file(cls, path: str | Path, site_id: str, policy_version: int | None = None) -> CookieRules:
        """From the site's TOML file, as the operator keeps it (the service validates it fully when it
        is synced; here only what enforcement needs is read, and a file that lacks it is refused)."""
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
            site = raw["site"]
            if site["id"] != site_id:
                raise ValueError(f"the file declares site {site['id']!r}, not {site_id!r}")
            categories = list(raw["categories"])
            cookies = [dict(cookie) for cookie in raw.get("cookies", [])]
            if any(cookie["category"] not in categories or ("name" in cookie) == ("pattern" in cookie)
                   for cookie in cookies):
                raise ValueError("every cookie needs a declared category and one of name or pattern")
            return cls(categories, cookies, cookie_name=site.get("cookie_name", "consent"),
                       cookie_domain=site.get("cookie_domain", ""), policy_version=policy_version,
                       source="site file")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: cannot use this site file: {error}") from None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CookieRules:
        """From the service's `GET /v1/sites/<site>/config` JSON."""
        return cls((c["id"] for c in config["categories"]), config["cookies"],
                   cookie_name=config["cookie"]["name"], cookie_domain=config["cookie"].get("domain") or "",
                   policy_version=int(config["policy_version"]), source="service config")
