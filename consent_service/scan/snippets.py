"""Ready-to-paste `[[cookies]]` blocks for the site's declaration file, one per undeclared name.

What the scan knows is filled in: the category, provider, purpose and retention from the cookie
database, the lifetime the browser saw. What only the shop owner can decide is left so that
`sites sync` refuses the block until it is decided: an unknown category is written as `unknown`
(or `review` when the database's "Functional" leaves it open), an unknown purpose as empty text.
"""

from __future__ import annotations

import json
from typing import Any

from consent_service.cookie_patterns import COOKIE_PATTERN
from consent_service.scan.findings import DEFINITE
from consent_service.scan.model import STATES, Entry, ScanResult

_KIND = {"cookie": "cookie", "localStorage": "localStorage key", "sessionStorage": "sessionStorage key",
         "indexedDB": "IndexedDB database"}
_STORAGE_LIFETIME = {"localStorage": "persistent", "sessionStorage": "session", "indexedDB": "persistent"}


def toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML)."""
    return json.dumps(text, ensure_ascii=False)


def human_lifetime(seconds: int | None) -> str:
    if seconds is None:
        return "session"
    days = seconds / 86400
    if days < 1:
        hours = max(1, round(seconds / 3600))
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if days < 60:
        return f"{round(days)} day{'s' if round(days) != 1 else ''}"
    if days < 700:
        return f"{round(days / 30.4)} months"
    return f"{round(days / 365)} years"


def _block(name: str, group: list[Entry], config: dict[str, Any]) -> str:
    first = group[0]
    c = first.classification
    known = c.known or {}
    categories = [cat["id"] for cat in config.get("categories") or [] if isinstance(cat, dict)]
    languages = list(config.get("languages") or [config.get("default_language") or "en"])
    states = [state for state in STATES if any(e.state == state for e in group)]
    where = sorted({e.domain if e.type == "cookie" else (e.origin or e.domain) for e in group})
    setter = first.set_by or "not observed"
    lines = [f"# {name}: {_KIND[first.type]} on {', '.join(where)}, set by {setter} ({first.source}); "
             f"seen {', '.join(states)}"]
    if known.get("platform"):
        lines.append(f"# cookie database: {known['platform']} ({known.get('database_category') or '-'})")
    category = c.known_category if c.known_category in DEFINITE and c.known_category in categories else None
    category_note = ""
    if category is None:
        if c.known_category == "review":
            category, category_note = "review", "  # the database says Functional: choose necessary or preferences"
        elif c.known_category in DEFINITE:
            category, category_note = c.known_category, "  # not one of this site's categories: choose one"
        else:
            category, category_note = "unknown", f"  # choose one of: {', '.join(categories)}"
    provider = known.get("controller") or known.get("platform") or first.domain
    if first.type == "cookie":
        lifetime = human_lifetime(first.lifetime_seconds)
    else:
        lifetime = known.get("retention") or _STORAGE_LIFETIME[first.type]
    description = known.get("description", "")
    if description:
        purpose = ", ".join(f"{lang} = {toml_string(description)}" for lang in languages)
        purpose_note = ("  # the database's English text: translate it" if any(not lang.lower().startswith("en")
                                                                                for lang in languages) else "")
    else:
        purpose = ", ".join(f"{lang} = \"\"" for lang in languages)
        purpose_note = "  # describe what it is for, in every language"
    block = ["[[cookies]]", f"name = {toml_string(name)}", f"category = {toml_string(category)}{category_note}",
             f"provider = {toml_string(provider)}", f"lifetime = {toml_string(lifetime)}",
             f"purpose = {{ {purpose} }}{purpose_note}"]
    if not COOKIE_PATTERN.match(name):
        lines.append("# this name has characters a declaration does not accept; it cannot be declared as is")
        block = ["# " + line for line in block]
    return "\n".join(lines + block)


def declaration_snippets(result: ScanResult, config: dict[str, Any]) -> str:
    """TOML for every undeclared cookie and storage item of a scan ('' when there is none)."""
    groups: dict[str, list[Entry]] = {}
    for entry in sorted(result.cookies + result.storage, key=lambda e: STATES.index(e.state)):
        if entry.classification.declared or entry.classification.builtin:
            continue
        groups.setdefault(entry.name, []).append(entry)
    return "\n\n".join(_block(name, group, config) for name, group in sorted(groups.items())) + (
        "\n" if groups else "")
