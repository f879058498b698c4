"""A site's cookie declarations compiled for the guard: which category a cookie name belongs to.
Pure standard library. (Whether a `Set-Cookie` deletes its cookie is set_cookie.py's question.)"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..cookie_patterns import NECESSARY, glob_matches, pattern_parts
from ..regimes import allowed_before_choice, honour_gpc, regime, regime_for_region

_CACHE_LIMIT = 4096


class CookieRules:
    """Declarations compiled for fast lookups: cookie name -> category, plus the site's cookie settings."""

    def __init__(self, categories: Iterable[str | Mapping[str, Any]], cookies: Iterable[Mapping[str, Any]], *,
                 cookie_name: str = "consent", cookie_domain: str = "",
                 policy_version: int | None = None, source: str = "",
                 jurisdictions: Mapping[str, Any] | None = None) -> None:
        #: The categories as declared (id, consent_mode, separate, regimes): what regimes.py reads.
        self.declared = [{"id": c} if isinstance(c, str) else dict(c) for c in categories]
        self.categories = frozenset(c["id"] for c in self.declared) | {NECESSARY}
        #: `default`, `regions` (region -> regime) and `versions` (regime -> policy version).
        self.jurisdictions = dict(jurisdictions or {})
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

    def regime_of(self, region: str | None) -> str:
        """The regime the site maps a region to (opt-in when the site names none)."""
        return regime_for_region(self.jurisdictions, region)

    def version_for(self, regime_id: str | None) -> int | None:
        """The policy version a token of this regime must name (None: any, as with a site file)."""
        if self.policy_version is None:
            return None
        return (self.jurisdictions.get("versions") or {}).get(regime(regime_id).id, self.policy_version)

    def before_choice(self, regime_id: str | None, gpc: bool) -> frozenset[str]:
        """What this regime allows before the visitor has chosen (regimes.py)."""
        return allowed_before_choice(self.declared, regime_id, gpc)

    def honour_gpc(self, regime_id: str | None, granted: frozenset[str], gpc: bool) -> frozenset[str]:
        return honour_gpc(self.declared, regime_id, granted, gpc)

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
            categories = [{"id": name, **dict(value)} for name, value in raw["categories"].items()]
            ids = [category["id"] for category in categories]
            cookies = [dict(cookie) for cookie in raw.get("cookies", [])]
            if any(cookie["category"] not in ids or ("name" in cookie) == ("pattern" in cookie)
                   for cookie in cookies):
                raise ValueError("every cookie needs a declared category and one of name or pattern")
            return cls(categories, cookies, cookie_name=site.get("cookie_name", "consent"),
                       cookie_domain=site.get("cookie_domain", ""), policy_version=policy_version,
                       source="site file", jurisdictions=dict(raw.get("regimes", {})))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: cannot use this site file: {error}") from None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CookieRules:
        """From the service's `GET /v1/sites/<site>/config` JSON."""
        return cls(config["categories"], config["cookies"],
                   cookie_name=config["cookie"]["name"], cookie_domain=config["cookie"].get("domain") or "",
                   policy_version=int(config["policy_version"]), source="service config",
                   jurisdictions=config.get("jurisdictions"))
