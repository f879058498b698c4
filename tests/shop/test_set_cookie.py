"""Set-Cookie read as RFC 6265 §5.2/§5.1.1 reads it: a table of attribute cases, each with what a
browser does with it, and the guard letting through only what certainly deletes."""

from __future__ import annotations

import calendar
import time

import pytest

from consent_service.shop.set_cookie import (
    CLOCK_MARGIN,
    cookie_date,
    cookie_name,
    is_deletion,
    parse_set_cookie,
    request_cookie_names,
)

NOW = time.time()
NBSP = "\u00a0"
PAST = "Thu, 01 Jan 1970 00:00:00 GMT"
FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"


def http_date(moment: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(moment))


# (case, Set-Cookie value, deletes?)
DELETION_CASES = [
    # Issue #10, point 4: each was taken for a deletion and kept by Chromium for months.
    ("max-age with an underscore", "ad_id=z; Max-Age=0_0", False),
    ("max-age zero, then a year", "ad_id=z; Max-Age=0; Max-Age=31536000", False),
    ("expires 1970, then 2100", f"ad_id=z; Expires={PAST}; Expires={FUTURE}", False),
    ("two-digit year 69 is 2069", "ad_id=z; Expires=Wed, 01 Jan 69 00:00:00 GMT", False),
    ("max-age zero and a no-break space", f"ad_id=z; Max-Age=0{NBSP}", False),
    # Max-Age (§5.2.2, §5.3 step 3)
    ("max-age zero", "a=; Max-Age=0", True),
    ("max-age negative", "a=; Max-Age=-1", True),
    ("max-age minus zero", "a=; Max-Age=-0", True),
    ("max-age leading zeros of zero", "a=; Max-Age=000", True),
    ("max-age leading zeros of ten", "a=; Max-Age=0010", False),
    ("max-age with a plus sign is ignored", "a=; Max-Age=+0", False),
    ("max-age empty is ignored", "a=; Max-Age=", False),
    ("max-age without a value is ignored", "a=; Max-Age", False),
    ("max-age a word is ignored", "a=; Max-Age=oops", False),
    ("max-age in exponent form is ignored", "a=; Max-Age=0e3", False),
    ("max-age a non-ASCII digit is ignored", "a=; Max-Age=\u0660", False),
    ("max-age with inner space is ignored", "a=; Max-Age=0 0", False),
    ("max-age SP and HTAB around are whitespace", "a=; Max-Age= \t0\t ", True),
    ("max-age a form feed is not whitespace", "a=; Max-Age=\x0c0", False),
    ("max-age huge negative", "a=; Max-Age=-99999999999999999999999999", True),
    ("max-age huge positive", "a=; Max-Age=99999999999999999999999999", False),
    ("max-age of 5000 digits", "a=; Max-Age=" + "9" * 5000, False),
    ("max-age of 5000 zeros is over 1,024 octets", "a=; Max-Age=" + "0" * 5000, False),
    ("max-age of 1,024 zeros", "a=; Max-Age=" + "0" * 1024, True),
    ("max-age of 1,025 zeros is ignored by Chromium", "a=; Max-Age=" + "0" * 1025, False),
    ("two max-ages that differ: a browser may take either", "a=; Max-Age=31536000; Max-Age=0", False),
    ("two equal max-ages", "a=; Max-Age=0; Max-Age=0", True),
    ("a bad max-age after a good one: Chromium keeps the cookie", "a=; Max-Age=0; Max-Age=oops", False),
    ("max-age wins over a later expires", f"a=; Max-Age=0; Expires={FUTURE}", True),
    ("max-age wins over an earlier expires", f"a=; Expires={PAST}; Max-Age=60", False),
    ("attribute names are case-insensitive", "a=; mAX-aGE=0", True),
    ("attribute names are trimmed of SP/HTAB", "a=; \tMax-Age \t=0", True),
    ("a name with a no-break space is another attribute", f"a=; {NBSP}Max-Age=0", False),
    ("max age without the hyphen is unknown", "a=; Max Age=0", False),
    ("max-age inside the value is not an attribute", "a=Max-Age=0", False),
    # Expires and the cookie-date algorithm (§5.1.1)
    ("expires 1970", f"a=; Expires={PAST}", True),
    ("two expires that differ: a browser may take either", f"a=; Expires={FUTURE}; Expires={PAST}", False),
    ("a bad expires after a good one: Chromium keeps the cookie", f"a=; Expires={PAST}; Expires=soon", False),
    ("an expires over 1,024 octets", f"a=; Expires={PAST}" + " " * 1100 + "x", False),
    ("both forms frameworks send", f"a=; Expires={PAST}; Max-Age=0; Path=/", True),
    ("expires lower case", "a=; expires=thu, 01 jan 1970 00:00:00 gmt", True),
    ("two-digit year 70 is 1970", "a=; Expires=Thu, 01 Jan 70 00:00:00 GMT", True),
    ("two-digit year 99 is 1999", "a=; Expires=Fri, 01 Jan 99 00:00:00 GMT", True),
    ("two-digit year 00 is 2000", "a=; Expires=Sat, 01 Jan 00 00:00:00 GMT", True),
    ("four digits 0069 are 2069 too", "a=; Expires=Wed, 01 Jan 0069 00:00:00 GMT", False),
    ("netscape dashes", "a=; Expires=Thursday, 01-Jan-1970 00:00:00 GMT", True),
    ("tokens in any order", "a=; Expires=1970 Jan 01 00:00:00", True),
    ("a long month name", "a=; Expires=01 January 1970 00:00:00", True),
    ("a missing time fails", "a=; Expires=Thu, 01 Jan 1970", False),
    ("a missing year fails", "a=; Expires=Thu, 01 Jan 00:00:00", False),
    ("30 February fails", "a=; Expires=Thu, 30 Feb 1970 00:00:00 GMT", False),
    ("day 32 fails", "a=; Expires=Thu, 32 Jan 1970 00:00:00 GMT", False),
    ("hour 24 fails", "a=; Expires=Thu, 01 Jan 1970 24:00:00 GMT", False),
    ("a year before 1601 fails", "a=; Expires=Mon, 01 Jan 1600 00:00:00 GMT", False),
    ("a three-digit day is no day", "a=; Expires=001 Jan 1970 00:00:00", False),
    ("a trailing no-break space after the zone is harmless", f"a=; Expires={PAST}{NBSP}", True),
    ("a date two days back deletes", f"a=; Expires={http_date(NOW - 2 * 86400)}", True),
    ("a date an hour back may be the browser's future", f"a=; Expires={http_date(NOW - 3600)}", False),
    ("a future date", f"a=; Expires={FUTURE}", False),
    # Neither
    ("no attributes", "a=b", False),
    ("only other attributes", "a=; Path=/; Secure; HttpOnly; SameSite=Lax", False),
    ("an empty header", "", False),
]


@pytest.mark.parametrize(("header", "deletes"), [case[1:] for case in DELETION_CASES],
                         ids=[case[0] for case in DELETION_CASES])
def test_what_deletes_a_cookie(header: str, deletes: bool) -> None:
    assert is_deletion(header, now=NOW) is deletes
    assert parse_set_cookie(header).deletes(NOW) is deletes


# (case, Set-Cookie value, the name a browser stores)
NAME_CASES = [
    ("plain", "session=x", "session"),
    ("SP and HTAB are trimmed", " \tsession\t =x", "session"),
    ("a no-break space is part of the name", f"{NBSP}session=x", f"{NBSP}session"),
    ("a vertical tab is part of the name", "session\x0b=x", "session\x0b"),
    ("a line feed is part of the name", "session\x1c=x", "session\x1c"),
    ("no '=': an empty name (RFC 6265bis)", "ad_id", ""),
    ("no '=' before the first ';'", "ad_id; Path=/x=y", ""),
    ("an empty name", "=ad", ""),
    ("the value may hold '='", "a=b=c; Path=/", "a"),
]


@pytest.mark.parametrize(("header", "name"), [case[1:] for case in NAME_CASES], ids=[case[0] for case in NAME_CASES])
def test_the_cookie_name_a_browser_reads(header: str, name: str) -> None:
    assert cookie_name(header) == name == parse_set_cookie(header).name


def test_cookie_dates() -> None:
    assert cookie_date(PAST) == 0.0
    assert cookie_date("Wed, 01 Jan 69 00:00:00 GMT") == calendar.timegm((2069, 1, 1, 0, 0, 0))
    assert cookie_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777.0
    assert cookie_date("Sunday, 06-Nov-94 08:49:37 GMT") == 784111777.0
    assert cookie_date("Sun Nov  6 08:49:37 1994") == 784111777.0
    assert cookie_date("29 Feb 2024 00:00:00") is not None and cookie_date("29 Feb 2023 00:00:00") is None
    assert cookie_date("") is None and cookie_date("\x00" * 100) is None
    assert CLOCK_MARGIN >= 3600


def test_request_cookie_names_trim_sp_and_htab_only() -> None:
    assert request_cookie_names(f"a=1; \tb=2; {NBSP}session=3; =4; c") == ["a", "b", f"{NBSP}session"]


def set_cookie_headers(app: object) -> list[str]:
    """The Set-Cookie values a WSGI app answers with, straight from start_response (werkzeug's test
    client would parse them, and some rows are more than it can read)."""
    seen: list[tuple[str, str]] = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": "shop", "SERVER_PORT": "80",
               "wsgi.url_scheme": "http"}
    list(app(environ, lambda status, headers, exc_info=None: seen.extend(headers)))  # type: ignore[operator]
    return [value for name, value in seen if name.lower() == "set-cookie"]


def test_the_guard_lets_through_only_certain_deletions() -> None:
    """Every row of the table through the guard with no consent: deletions pass, the rest is removed,
    for a declared marketing cookie, an analytics one and an undeclared one under `block`."""
    from tests.shop.test_guard import CookieApp, make_guard

    for name in ("ad_id", "_ga", "tracker"):
        headers = [case[1].replace("a=", f"{name}=", 1) for case in DELETION_CASES if case[1].startswith("a=")]
        headers += [case[1].replace("ad_id=", f"{name}=", 1) for case in DELETION_CASES if case[1].startswith("ad_id=")]
        passed = set_cookie_headers(make_guard(CookieApp(headers)))
        assert passed == [header for header in headers if is_deletion(header)], name
        assert all(is_deletion(header) for header in passed)


def test_a_name_that_only_strips_to_a_necessary_one_does_not_pass() -> None:
    from tests.shop.test_guard import CookieApp, make_guard

    tricks = [f"{NBSP}session=x", "session\x0b=x", "session\x0c=x", "\x1csession=x", f"session{NBSP}=x"]
    guard = make_guard(CookieApp(["session=ok", *tricks]), necessary_cookies=["session"])
    assert set_cookie_headers(guard) == ["session=ok"]
