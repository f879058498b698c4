"""Reading Set-Cookie lines and document.cookie writes: name, landing domain, deletion; never the value."""

from __future__ import annotations

import pytest

from consent_service.scan.setcookie import (
    CookieWrite,
    attributes,
    cookie_name,
    is_deletion,
    parse_set_cookie,
    script_write,
    set_cookie_lines,
)

NOW = 1_800_000_000.0


@pytest.mark.parametrize(("line", "host", "expected"), [
    ("sid=abc; Path=/; HttpOnly", "shop.example", CookieWrite("sid", "shop.example", False)),
    ("_ga=GA1; Domain=.Example.COM; Max-Age=63072000", "www.example.com", CookieWrite("_ga", "example.com", False)),
    ("cart=; Max-Age=0; Path=/", "shop.example", CookieWrite("cart", "shop.example", True)),
    ("old=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT", "shop.example", CookieWrite("old", "shop.example", True)),
    ("new=x; Expires=Wed, 01 Jan 2048 00:00:00 GMT", "shop.example", CookieWrite("new", "shop.example", False)),
    ("both=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60", "h", CookieWrite("both", "h", False)),
    ("nameless", "h", CookieWrite("", "h", False)),
    ("weird=x; Max-Age=soon", "h", CookieWrite("weird", "h", False)),
    ("  spaced  = v ; domain=h2", "h", CookieWrite("spaced", "h2", False)),
])
def test_set_cookie_lines(line: str, host: str, expected: CookieWrite) -> None:
    assert parse_set_cookie(line, host, now=NOW) == expected


def test_an_empty_line_is_no_cookie() -> None:
    assert parse_set_cookie("   ", "h") is None
    assert cookie_name("") is None


def test_repeated_and_folded_set_cookie_headers_all_count() -> None:
    headers = [{"name": "Content-Type", "value": "text/html"}, {"name": "Set-Cookie", "value": "a=1"},
               {"name": "set-cookie", "value": "b=2; Path=/\nc=3"}]
    assert set_cookie_lines(headers) == ["a=1", "b=2; Path=/", "c=3"]


def test_attributes_and_deletion() -> None:
    assert attributes(" Path=/; Secure; SameSite=None; max-age=5") == {
        "path": "/", "secure": "", "samesite": "None", "max-age": "5"}
    assert is_deletion({"max-age": "-1"}) and not is_deletion({})
    assert is_deletion({"expires": "not a date"}) is False


def test_a_script_write_lands_on_its_frame_host_unless_it_names_a_domain() -> None:
    assert script_write("_fbp", " Path=/; Max-Age=100", "shop.example") == CookieWrite("_fbp", "shop.example", False)
    assert script_write("x", "domain=.shop.example;max-age=0", "www.shop.example") == CookieWrite(
        "x", "shop.example", True)
