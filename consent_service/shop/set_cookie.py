"""Reading a `Set-Cookie` header the way a browser does (RFC 6265 §5.2 and §5.1.1), for one
question the guard must answer exactly: does this header *delete* its cookie?

The guard lets a deletion through whatever the visitor allowed, so a header that only looks like
one is a way past it. Each of these was a way past a looser check, and each is a cookie that
Chromium keeps for months:

- ``Max-Age=0; Max-Age=31536000``: the *last* Max-Age counts (§5.3 step 3), and Max-Age wins over
  Expires wherever it stands;
- ``Max-Age=0_0`` or ``Max-Age=0\\u00a0``: Max-Age is an optional ``-`` and ASCII digits, nothing else
  (Python's ``int`` accepts underscores, Unicode digits and Unicode spaces);
- ``Expires=<1970>; Expires=<2100>``: the last valid Expires counts;
- ``Expires=Wed, 01 Jan 69 00:00:00 GMT``: a two-digit year 69 is 2069, 70 to 99 are 19xx (§5.1.1);
- ``Max-Age=0; Max-Age=oops``, ``Expires=<1970>; Expires=soon``, or a Max-Age of 1,100 zeros: RFC 6265
  ignores the bad attribute and deletes, but Chromium takes the last attribute of a kind as it stands
  and drops a value over 1,024 octets (RFC 6265bis), and so keeps the cookie for the session.

Browsers differ where the header is odd, and the guard must be right in every one of them. So a
header whose expiry attributes could be read two ways is never a deletion: one with a Max-Age or
Expires that is not valid, or longer than 1,024 octets, or with two of a kind whose values differ.

Whitespace is only SP and HTAB: a name or value is trimmed of those and nothing else, so
``"\\u00a0session"`` is not ``session``. Anything this module cannot read as certainly deleting the
cookie is a set; an ``Expires`` counts as a deletion only when it lies at least `CLOCK_MARGIN`
seconds in the past, because the browser compares it with its own clock.

Pure standard library; no I/O.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass

#: RFC 6265bis: a browser ignores an attribute whose value is longer than this (in octets).
MAX_ATTRIBUTE_VALUE_OCTETS = 1024
#: An Expires date deletes only when it is at least this far in the past by the server's clock
#: (a browser whose clock runs behind would otherwise keep the cookie).
CLOCK_MARGIN = 86400
_WSP = " \t"
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
#: §5.1.1 delimiter = %x09 / %x20-2F / %x3B-40 / %x5B-60 / %x7B-7E; a date token is a run of anything else.
_DATE_TOKEN = re.compile(r"[^\x09\x20-\x2f\x3b-\x40\x5b-\x60\x7b-\x7e]+")
# The productions of §5.1.1, each a prefix of the token followed by nothing or by a non-digit.
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[^0-9]|$)", re.ASCII)
_DAY = re.compile(r"([0-9]{1,2})(?:[^0-9]|$)", re.ASCII)
_YEAR = re.compile(r"([0-9]{2,4})(?:[^0-9]|$)", re.ASCII)
_DELTA_SECONDS = re.compile(r"-?[0-9]+", re.ASCII)


def cookie_date(text: str) -> float | None:
    """The moment a cookie-date names (RFC 6265 §5.1.1), as a POSIX timestamp; None when the
    algorithm fails to parse it (then the Expires attribute is ignored)."""
    hour = minute = second = day = month = year = None
    for token in _DATE_TOKEN.findall(text):
        if hour is None and (match := _TIME.match(token)):
            hour, minute, second = (int(group) for group in match.groups())
        elif day is None and (match := _DAY.match(token)):
            day = int(match.group(1))
        elif month is None and token[:3].lower() in _MONTHS:
            month = _MONTHS.index(token[:3].lower()) + 1
        elif year is None and (match := _YEAR.match(token)):
            year = int(match.group(1))
    if hour is None or minute is None or second is None or day is None or month is None or year is None:
        return None
    if 70 <= year <= 99:
        year += 1900
    elif 0 <= year <= 69:
        year += 2000
    if not 1 <= day <= 31 or year < 1601 or hour > 23 or minute > 59 or second > 59:
        return None
    if day > calendar.monthrange(year, month)[1]:
        return None  # no such date (30 February)
    return float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))


@dataclass(frozen=True)
class SetCookie:
    """What a browser reads from one Set-Cookie header: the name and value, and the expiry-deciding
    attributes after §5.2 (ignored ones left out) and §5.3 step 3 (the last one wins)."""

    name: str
    value: str
    #: The last valid Max-Age in seconds, or None.
    max_age: int | None = None
    #: The last valid Expires as a POSIX timestamp, or None.
    expires: float | None = None
    #: Some browser may read the expiry otherwise: a Max-Age or Expires that is not valid or is over
    #: 1,024 octets, or two of a kind with different values.
    ambiguous: bool = False

    def deletes(self, now: float | None = None) -> bool:
        """True when every browser drops the cookie at once: an unambiguous header with Max-Age at or
        below zero, or (without a Max-Age) an Expires at least CLOCK_MARGIN seconds in the past."""
        if self.ambiguous:
            return False
        if self.max_age is not None:
            return self.max_age <= 0
        if self.expires is not None:
            return self.expires <= (time.time() if now is None else now) - CLOCK_MARGIN
        return False


def _delta_seconds(digits: str) -> int:
    """A Max-Age value already matched as '-'? DIGIT+; absurdly long ones are clamped (Python's int()
    refuses strings past 4,300 digits), keeping their sign."""
    if len(digits) <= 18:
        return int(digits)
    magnitude = 10**18 if digits.lstrip("-").strip("0") else 0
    return -magnitude if digits.startswith("-") else magnitude


def cookie_name(set_cookie: str) -> str:
    """The name of the cookie a Set-Cookie header sets (SP/HTAB trimmed only; empty when the
    name-value pair has no '=', as RFC 6265bis reads it)."""
    pair = set_cookie.partition(";")[0]
    name, equals, _ = pair.partition("=")
    return name.strip(_WSP) if equals else ""


def parse_set_cookie(set_cookie: str) -> SetCookie:
    """Read one Set-Cookie header value per RFC 6265 §5.2 (with 6265bis's reading of a pair without
    '=' as a value with an empty name)."""
    pair, _, attributes = set_cookie.partition(";")
    name, equals, value = pair.partition("=")
    if not equals:
        name, value = "", name
    max_age: int | None = None
    expires: float | None = None
    ambiguous = False
    max_ages: set[int] = set()
    expiries: set[float] = set()
    if attributes:
        for cookie_av in attributes.split(";"):
            attribute, _, attribute_value = cookie_av.partition("=")
            attribute = attribute.strip(_WSP)
            if not attribute.isascii():
                continue  # attribute names compare ASCII case-insensitively
            attribute = attribute.lower()
            if attribute not in ("max-age", "expires"):
                continue
            attribute_value = attribute_value.strip(_WSP)
            too_long = len(attribute_value.encode("utf-8", "surrogatepass")) > MAX_ATTRIBUTE_VALUE_OCTETS
            if attribute == "max-age":
                # §5.2.2: an optional '-' and ASCII digits only, else the attribute is ignored.
                if _DELTA_SECONDS.fullmatch(attribute_value) and not too_long:
                    max_age = _delta_seconds(attribute_value)
                    max_ages.add(max_age)
                else:
                    ambiguous = True
            else:
                moment = None if too_long else cookie_date(attribute_value)
                if moment is not None:
                    expires = moment
                    expiries.add(moment)
                else:
                    ambiguous = True
    if len(max_ages) > 1 or len(expiries) > 1:
        ambiguous = True  # two of a kind with different values: a browser may take either
    return SetCookie(name=name.strip(_WSP), value=value.strip(_WSP), max_age=max_age, expires=expires,
                     ambiguous=ambiguous)


#: Expiry attributes by attribute string: an application sends the same few again and again
#: (values differ per visitor, attributes rarely do), and the guard asks on every response.
_EXPIRY_MEMO: dict[str, SetCookie] = {}
_MEMO_LIMIT = 4096


def is_deletion(set_cookie: str, now: float | None = None) -> bool:
    """True when a browser certainly deletes the cookie this Set-Cookie header names."""
    attributes = set_cookie.partition(";")[2]
    if "=" not in attributes:
        return False  # neither Max-Age nor Expires can be there
    expiry = _EXPIRY_MEMO.get(attributes)
    if expiry is None:
        expiry = parse_set_cookie(";" + attributes)
        if len(_EXPIRY_MEMO) >= _MEMO_LIMIT:
            _EXPIRY_MEMO.clear()
        _EXPIRY_MEMO[attributes] = expiry
    return expiry.deletes(now)


def request_cookie_names(cookie_header: str) -> list[str]:
    """The cookie names of a request's Cookie header, in order (SP/HTAB trimmed only)."""
    names = []
    for part in cookie_header.split(";"):
        name, equals, _ = part.partition("=")
        name = name.strip(_WSP) if equals else ""
        if name:
            names.append(name)
    return names
