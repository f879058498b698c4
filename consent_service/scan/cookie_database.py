"""The bundled Open Cookie Database (Apache-2.0, see data/NOTICE.md): known cookie and storage key
names with their category, platform, purpose and retention.

Loaded once, on first use, into a dict of exact names and a list of prefixes (rows whose
`Wildcard match` is 1), longest prefix first so the most specific row wins.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from importlib import resources

#: The database's categories in the site's terms. "Functional" mixes strictly necessary cookies with
#: preference ones, so a person has to decide: `review`.
CATEGORIES = {
    "Analytics": "analytics",
    "Marketing": "marketing",
    "Security": "necessary",
    "Necessary": "necessary",
    "Personalization": "preferences",
    "Functional": "review",
}
REVIEW = "review"


@dataclass(frozen=True)
class KnownCookie:
    """One row of the database; `category` is already in the site's terms (or `review`)."""

    name: str
    prefix: bool
    category: str
    database_category: str
    platform: str
    controller: str
    description: str
    retention: str
    domain: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "match": "prefix" if self.prefix else "exact", "category": self.category,
                "database_category": self.database_category, "platform": self.platform,
                "controller": self.controller, "description": self.description, "retention": self.retention,
                "domain": self.domain}


class CookieDatabase:
    """Look a name up: an exact row first, else the longest prefix row that starts it."""

    def __init__(self, rows: list[KnownCookie]) -> None:
        self.exact: dict[str, KnownCookie] = {}
        prefixes: dict[str, KnownCookie] = {}
        for row in rows:
            table = prefixes if row.prefix else self.exact
            other = table.get(row.name)
            if other is None:
                table[row.name] = row
            elif other.category != row.category:
                # The same name listed under two categories (`token`, `chk`): a person decides.
                table[row.name] = KnownCookie(**{**other.__dict__, "category": REVIEW,
                                                 "database_category": f"{other.database_category}/"
                                                                      f"{row.database_category}"})
        self.prefixes = sorted(prefixes.items(), key=lambda item: -len(item[0]))

    def __len__(self) -> int:
        return len(self.exact) + len(self.prefixes)

    def lookup(self, name: str) -> KnownCookie | None:
        found = self.exact.get(name)
        if found is not None:
            return found
        for prefix, row in self.prefixes:
            if name.startswith(prefix):
                return row
        return None

    @classmethod
    def from_csv(cls, text: str) -> CookieDatabase:
        rows = []
        for record in csv.DictReader(io.StringIO(text)):
            name = (record.get("Cookie / Data Key name") or "").strip()
            database_category = (record.get("Category") or "").strip()
            if not name or database_category not in CATEGORIES:
                continue
            rows.append(KnownCookie(
                name=name, prefix=(record.get("Wildcard match") or "").strip() == "1",
                category=CATEGORIES[database_category], database_category=database_category,
                platform=(record.get("Platform") or "").strip(),
                controller=(record.get("Data Controller") or "").strip(),
                description=" ".join((record.get("Description") or "").split()),
                retention=(record.get("Retention period") or "").strip(),
                domain=(record.get("Domain") or "").strip(),
            ))
        return cls(rows)


@functools.cache
def bundled() -> CookieDatabase:
    """The database shipped with the package, parsed on first use and kept for the process."""
    text = resources.files("consent_service.scan").joinpath("data", "open-cookie-database.csv").read_text("utf-8")
    return CookieDatabase.from_csv(text)
