"""How a cookie declaration names cookies: an exact name, or a pattern with one `*` that stands
for any run of characters (`_ga_*`). The service, the guard, the scanner and the banner (in
JavaScript) all follow this one rule.

Pure standard library: the shop side imports it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: The category that is always on (login, cart, security) and can never be refused.
NECESSARY = "necessary"
#: What a declared name or pattern may hold: an RFC 6265 cookie-name token (and '*'), 1 to 128 characters.
COOKIE_PATTERN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$")


def pattern_parts(pattern: str) -> tuple[str, str] | None:
    """A '*' glob's prefix and suffix, or None when the pattern has no '*' (then it is a plain name)."""
    prefix, star, suffix = pattern.partition("*")
    return (prefix, suffix) if star else None


def glob_matches(prefix: str, suffix: str, cookie_name: str) -> bool:
    """Whether `prefix*suffix` covers the name."""
    return (len(cookie_name) >= len(prefix) + len(suffix)
            and cookie_name.startswith(prefix) and cookie_name.endswith(suffix))


def cookie_matches(declaration: Mapping[str, Any], cookie_name: str) -> bool:
    """True when a cookie declaration (exact name or '*' glob pattern) covers cookie_name."""
    if "name" in declaration:
        return declaration["name"] == cookie_name
    parts = pattern_parts(declaration["pattern"])
    return declaration["pattern"] == cookie_name if parts is None else glob_matches(*parts, cookie_name)
