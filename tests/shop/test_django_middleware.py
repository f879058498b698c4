"""The Django middleware in-process, with Django's own test clients (sync and async): the cookie
domain's second expiry line, renamed framework cookies, the guard rebuilt under override_settings,
the decision and the counters in views, and a missing configuration named at startup."""

from __future__ import annotations

from pathlib import Path

import pytest

django = pytest.importorskip("django")

from django.conf import settings  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402

from consent_service.shop.testing import ConsentTestKeys  # noqa: E402
from tests.support import DEMO_TOML  # noqa: E402
from tests.support.shop_stacks import EVERYTHING, run_async, tampered  # noqa: E402

KEYS = ConsentTestKeys("demo")
SITE_FILE = str(DEMO_TOML)


def cookies(request):
    response = HttpResponse("ok")
    for name in ("sessionid", "shop_session", "_ga", "ad_id"):
        response.set_cookie(name, "v")
    return response


async def async_cookies(request):
    return cookies(request)


def decision(request):
    from consent_service.shop.django import consent, guard_stats

    return JsonResponse({"status": consent(request).status, "same": request.consent is consent(request),
                         "stats": guard_stats()})


urlpatterns = [path("cookies/", cookies), path("async/", async_cookies), path("decision/", decision)]


@pytest.fixture(scope="module", autouse=True)
def configured() -> None:
    if not settings.configured:
        settings.configure(
            SECRET_KEY="test-only", ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"], USE_TZ=True,
            MIDDLEWARE=["consent_service.shop.django.ConsentMiddleware"],
            CONSENT_GUARD={"site_id": "demo", "declarations": SITE_FILE, "keys": KEYS.jwks})
        django.setup()


def cookie_lines(response) -> list[str]:
    return [morsel.OutputString() for morsel in response.cookies.values()]


def names_set(response) -> set[str]:
    return {morsel.key for morsel in response.cookies.values() if morsel["max-age"] != 0
            and morsel.value != "" and not morsel["expires"]}


def test_sync_and_async_requests_are_guarded() -> None:
    from django.test import AsyncClient, Client

    client = Client()
    client.cookies["consent"] = KEYS.token(granted=["necessary", "analytics"])
    assert names_set(client.get("/cookies/")) == {"sessionid", "_ga", "consent"}
    async_client = AsyncClient()
    async_client.cookies["consent"] = KEYS.token(granted=EVERYTHING)
    response = run_async(async_client.get("/async/"))
    assert names_set(response) == {"sessionid", "_ga", "ad_id", "consent"}


def test_the_decision_and_the_counters_in_a_view() -> None:
    from django.test import Client

    client = Client()
    client.get("/cookies/")
    answer = client.get("/decision/").json()
    assert answer["status"] == "none" and answer["same"] is True
    assert answer["stats"]["removed"]["_ga"] >= 1


def test_a_cookie_domain_gets_both_expiry_lines(tmp_path: Path) -> None:
    from django.test import Client, override_settings

    site_file = tmp_path / "demo.toml"
    site_file.write_text(DEMO_TOML.read_text(encoding="utf-8").replace(
        'cookie_domain = ""', 'cookie_domain = "shop.test"'), encoding="utf-8")
    with override_settings(CONSENT_GUARD={"site_id": "demo", "declarations": site_file, "keys": KEYS.jwks}):
        client = Client()
        client.cookies["consent"] = tampered(KEYS.token(granted=EVERYTHING))
        client.cookies["ad_seen"] = "1"
        lines = cookie_lines(client.get("/decision/"))
    assert "consent=; Max-Age=0; Path=/" in lines
    assert "consent=; Domain=shop.test; Max-Age=0; Path=/" in lines
    assert "ad_seen=; Max-Age=0; Path=/" in lines and "ad_seen=; Domain=shop.test; Max-Age=0; Path=/" in lines


def test_renamed_framework_cookies_and_a_rebuilt_guard() -> None:
    from django.test import Client, override_settings

    with override_settings(SESSION_COOKIE_NAME="shop_session"):
        client = Client()
        assert names_set(client.get("/cookies/")) == {"shop_session"}
    other = ConsentTestKeys("demo")
    with override_settings(CONSENT_GUARD={"site_id": "demo", "declarations": SITE_FILE, "keys": other.jwks}):
        client = Client()
        client.cookies["consent"] = KEYS.token(granted=EVERYTHING)  # the old keys no longer verify
        assert names_set(client.get("/cookies/")) == {"sessionid"}
        client.cookies["consent"] = other.token(granted=EVERYTHING)
        assert names_set(client.get("/cookies/")) == {"sessionid", "_ga", "ad_id", "consent"}


def test_a_missing_configuration_is_named() -> None:
    from django.core.exceptions import ImproperlyConfigured
    from django.test import Client, override_settings

    with override_settings(CONSENT_GUARD=None), pytest.raises(ImproperlyConfigured, match="CONSENT_GUARD"):
        Client().get("/cookies/")


def test_the_region_header_sets_the_regime_before_a_choice() -> None:
    from django.test import Client, override_settings

    guard = {"site_id": "demo", "declarations": SITE_FILE, "keys": KEYS.jwks,
             "region_header": "CF-IPCountry", "subdivision_header": "CF-Region-Code"}
    with override_settings(CONSENT_GUARD=guard):
        assert names_set(Client().get("/cookies/", HTTP_CF_IPCOUNTRY="FR")) == {"sessionid"}
        californian = Client().get("/cookies/", HTTP_CF_IPCOUNTRY="US", HTTP_CF_REGION_CODE="CA")
        assert names_set(californian) == {"sessionid", "_ga", "ad_id"}
        opted_out = Client().get("/cookies/", HTTP_CF_IPCOUNTRY="US", HTTP_CF_REGION_CODE="CA", HTTP_SEC_GPC="1")
        assert names_set(opted_out) == {"sessionid", "_ga"}
