"""Naming the writer from a V8 stack: the init script's frames skipped, inline code to its document."""

from __future__ import annotations

from consent_service.scan.instrument import Caller, parse_stack

PAGE = "http://shop.example/products?x=1#top"
OWN = ("Error\n    at __consentScanStack (<anonymous>:4:19)"
       "\n    at HTMLDocument.__consentScanCookie [as cookie] (<anonymous>:30:11)")


def test_an_external_script_is_its_own_url() -> None:
    stack = (OWN + "\n    at track (https://ads.example/fbevents.js?v=2:1:33)"
             "\n    at https://ads.example/fbevents.js?v=2:1:69")
    assert parse_stack(stack, PAGE) == Caller("https://ads.example/fbevents.js?v=2", (), False)


def test_inline_script_is_the_document_without_fragment() -> None:
    assert parse_stack(OWN + "\n    at http://shop.example/products?x=1:12:25", PAGE) == Caller(
        "http://shop.example/products?x=1", (), True)


def test_code_inserted_at_run_time_belongs_to_the_document_and_names_the_inserter() -> None:
    stack = (OWN + "\n    at <anonymous>:1:16\n    at release (https://consent.example/banner.js:1:900)"
             "\n    at apply (https://consent.example/banner.js:1:1200)")
    assert parse_stack(stack, PAGE) == Caller("http://shop.example/products?x=1",
                                              ("https://consent.example/banner.js",), True)


def test_eval_is_attributed_to_the_script_that_evaluated() -> None:
    stack = (OWN + "\n    at eval (eval at load (https://tags.example/gtm.js:3:10), <anonymous>:1:16)"
             "\n    at https://tags.example/gtm.js:3:12")
    assert parse_stack(stack, PAGE) == Caller("https://tags.example/gtm.js", (), False)


def test_a_library_in_between_keeps_the_caller_under_via() -> None:
    stack = (OWN + "\n    at set (https://cdn.example/js.cookie.js:2:5)\n    at https://shop.example/app.js:9:1"
             "\n    at https://shop.example/app.js:20:1")
    assert parse_stack(stack, PAGE) == Caller("https://cdn.example/js.cookie.js", ("https://shop.example/app.js",),
                                              False)


def test_no_stack_at_all_means_the_document() -> None:
    assert parse_stack("", PAGE) == Caller("http://shop.example/products?x=1", (), True)
    assert parse_stack("Error", None) == Caller(None, (), True)
