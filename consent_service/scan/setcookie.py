"""Reading cookie-setting instructions without their values: `Set-Cookie` header lines and the
strings scripts write to `document.cookie`.

Only the name and the attributes that decide where a cookie lands (Domain) and whether the write is a
deletion (Max-Age, Expires) are kept: the scanner never stores a cookie's value.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class CookieWrite:
    """One cookie write: its name, the domain it lands on (no leading dot), whether it deletes."""

    name: str
    domain: str
    deletion: bool


def normalize_domain(domain: str) -> str:
    """Cookie domains compare without the leading dot and case-insensitively."""
    return domain.strip().lstrip(".").lower()


def cookie_name(line: str) -> str | None:
    """The name in `name=value; attrs`; a pair without '=' is a nameless cookie (name '')."""
    pair = line.split(";", 1)[0]
    if "=" not in pair:
        return "" if pair.strip() else None
    return pair.split("=", 1)[0].strip()


def attributes(text: str) -> dict[str, str]:
    """`; Domain=x; Max-Age=0; Secure` -> {'domain': 'x', 'max-age': '0', 'secure': ''} (last one wins)."""
    found: dict[str, str] = {}
    for part in text.split(";"):
        key, _, value = part.partition("=")
        key = key.strip().lower()
        if key:
            found[key] = value.strip()
    return found


def is_deletion(attrs: dict[str, str], now: float | None = None) -> bool:
    """Max-Age of zero or less, or an Expires in the past (Max-Age wins when both are given)."""
    if "max-age" in attrs:
        try:
            return int(attrs["max-age"]) <= 0
        except ValueError:
            return False
    if "expires" in attrs:
        try:
            expires = parsedate_to_datetime(attrs["expires"]).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
        return expires <= (time.time() if now is None else now)
    return False


def parse_set_cookie(line: str, host: str, now: float | None = None) -> CookieWrite | None:
    """One Set-Cookie header line, received from `host`."""
    name = cookie_name(line)
    if name is None:
        return None
    _, _, rest = line.partition(";")
    attrs = attributes(rest)
    domain = normalize_domain(attrs.get("domain") or host)
    return CookieWrite(name, domain, is_deletion(attrs, now))


def set_cookie_lines(headers: list[dict[str, str]]) -> list[str]:
    """Every Set-Cookie line in a response's header array (some stacks fold them with newlines)."""
    lines = []
    for header in headers:
        if header.get("name", "").lower() == "set-cookie":
            lines += [line for line in header.get("value", "").split("\n") if line.strip()]
    return lines


def script_write(name: str, attribute_text: str, host: str, now: float | None = None) -> CookieWrite:
    """A `document.cookie = ...` write, as the init script reports it: the name, and the attributes
    after the first ';' (the value stays in the page)."""
    attrs = attributes(attribute_text)
    return CookieWrite(name, normalize_domain(attrs.get("domain") or host), is_deletion(attrs, now))
