"""What a cookie or storage key is for: the site's own declarations first (exact names before
patterns), then the bundled cookie database, otherwise unknown.

The consent banner's own items are known without a declaration: its cookie (the site's `cookie.name`)
is necessary — and still has to be declared, like any cookie — and its localStorage keys
(`consent:<site>:…`) are necessary and cannot be declared (a declaration's name allows no ':').
"""

from __future__ import annotations

from typing import Any

from consent_service.cookie_patterns import cookie_matches
from consent_service.scan.cookie_database import CookieDatabase, bundled
from consent_service.scan.model import Classification

UNKNOWN = "unknown"
NECESSARY = "necessary"
BANNER = {"platform": "Consent banner", "controller": "the site", "retention": "up to the consent lifetime",
          "description": "Stores the visitor's cookie choices.", "category": NECESSARY,
          "database_category": "", "name": "", "match": "exact", "domain": ""}


class Classifier:
    """Classifies names against one site's public configuration (as served at /config)."""

    def __init__(self, config: dict[str, Any], database: CookieDatabase | None = None) -> None:
        self.declarations: list[dict[str, Any]] = list(config.get("cookies") or [])
        self.exact = {}
        for declaration in self.declarations:
            if "name" in declaration:
                self.exact.setdefault(declaration["name"], declaration)
        self.patterns = [d for d in self.declarations if "name" not in d]
        self.consent_cookie = (config.get("cookie") or {}).get("name") or "consent"
        self.banner_prefix = f"consent:{config.get('site', '')}:"
        self.categories = [c["id"] for c in config.get("categories") or [] if isinstance(c, dict) and "id" in c]
        self._database = database

    @property
    def database(self) -> CookieDatabase:
        if self._database is None:
            self._database = bundled()
        return self._database

    def declaration_for(self, name: str) -> dict[str, Any] | None:
        """The declaration covering `name`: an exact name wins over a pattern; patterns in file order."""
        found = self.exact.get(name)
        if found is not None:
            return found
        return next((d for d in self.patterns if cookie_matches(d, name)), None)

    def classify(self, name: str, *, storage: bool = False) -> Classification:
        declaration = self.declaration_for(name)
        known_category, known = None, None
        if storage and name.startswith(self.banner_prefix):
            return Classification(NECESSARY, declared=False, known_category=NECESSARY,
                                  known={**BANNER, "name": name}, builtin=True)
        if not storage and name == self.consent_cookie:
            known_category, known = NECESSARY, {**BANNER, "name": name}
        else:
            row = self.database.lookup(name)
            if row is not None:
                known_category, known = row.category, row.as_dict()
        if declaration is not None:
            return Classification(declaration["category"], declared=True,
                                  declared_category=declaration["category"],
                                  declaration=declaration.get("name") or declaration.get("pattern"),
                                  known_category=known_category, known=known)
        return Classification(known_category or UNKNOWN, declared=False, known_category=known_category, known=known)
