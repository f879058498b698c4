"""The guard applies the visitor's regime: before a choice from the region header the shop's edge sets,
after it from the token's `rg` claim; GPC is a standing opt-out where the law makes it one."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from consent_service.shop import ConsentGuard, CookieRules
from tests.support import DEMO_TOML
from tests.support.tokens import TestKeys, issue

KEYS = TestKeys("demo")
EVERY = ["session=s1; Path=/", "currency=EUR; Path=/", "_ga=GA1.1.1; Path=/", "ad_id=a1; Path=/"]
EVERYONE = ("necessary", "preferences", "analytics", "marketing")


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")] + [("Set-Cookie", c) for c in EVERY])
    return [b"ok"]


def guard(**options):
    return ConsentGuard(app, site_id="demo", declarations=DEMO_TOML, keys=KEYS.jwks,
                        region_header="CF-IPCountry", subdivision_header="CF-Region-Code", **options)


def passed(guard_, country=None, subdivision=None, consent=None, gpc=False, query=""):
    headers = {}
    if country:
        headers["CF-IPCountry"] = country
    if subdivision:
        headers["CF-Region-Code"] = subdivision
    if gpc:
        headers["Sec-GPC"] = "1"
    client = Client(guard_)
    if consent:
        client.set_cookie("consent", consent)
    response = client.get("/" + query, headers=headers)
    return {value.split("=", 1)[0] for value in response.headers.getlist("Set-Cookie")
            if "Max-Age=0" not in value} - {"consent"}  # the re-issued consent cookie


@pytest.mark.parametrize("country,subdivision,gpc,expected", [
    ("FR", None, False, {"session"}),
    (None, None, False, {"session"}),  # no region: the site's default (opt-in)
    ("GB", None, False, {"session", "currency", "_ga"}),
    ("US", "CA", False, {"session", "currency", "_ga", "ad_id"}),
    ("US", "CA", True, {"session", "currency", "_ga"}),
    ("CN", None, False, {"session"}),
])
def test_before_a_choice(country, subdivision, gpc, expected):
    assert passed(guard(), country, subdivision, gpc=gpc) == expected


def test_a_spoofed_query_changes_nothing():
    assert passed(guard(), "FR", query="?region=US-CA&CF-IPCountry=US") == {"session"}


def test_after_a_choice_the_tokens_regime_holds():
    refused = issue(KEYS.issuer, granted=["necessary"], regime="us-opt-out")
    assert passed(guard(), "US", "CA", consent=refused) == {"session"}
    accepted = issue(KEYS.issuer, granted=EVERYONE, regime="us-opt-out")
    assert passed(guard(), "US", "CA", consent=accepted) == {"session", "currency", "_ga", "ad_id"}
    # GPC in an opt-out regime: advertising stays off whatever the token grants.
    assert passed(guard(), "US", "CA", consent=accepted, gpc=True) == {"session", "currency", "_ga"}
    # In opt-in, GPC does not overrule an explicit consent (the banner starts marketing refused).
    opted_in = issue(KEYS.issuer, granted=EVERYONE, regime="opt-in")
    assert passed(guard(), "FR", consent=opted_in, gpc=True) == {"session", "currency", "_ga", "ad_id"}


def test_an_outdated_token_keeps_its_refusals():
    rules = CookieRules.from_site_file(DEMO_TOML, "demo", policy_version=2)
    old = issue(KEYS.issuer, granted=["necessary", "analytics"], regime="us-opt-out", policy_version=1)
    rules_guard = ConsentGuard(app, site_id="demo", declarations=rules, keys=KEYS.jwks, region_header="CF-IPCountry")
    assert passed(rules_guard, "US", consent=old) == {"session", "_ga"}
    old_opt_in = issue(KEYS.issuer, granted=EVERYONE, regime="opt-in", policy_version=1)
    assert passed(rules_guard, "FR", consent=old_opt_in) == {"session"}
