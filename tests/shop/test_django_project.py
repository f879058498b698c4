"""Issue 16's Django project: `django-admin startproject` in a temporary folder, changed only as
docs/shops/django.md says (its snippets, as written), with one page of the test's own that sets a
cookie of each kind. Served by gunicorn (WSGI) and uvicorn (ASGI), it must pass the Set-Cookie table,
keep its flash messages and show the guard's counters; its own `manage.py test` runs the docs' test
snippet with the Django test client, which must see the guard."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from consent_service.shop.testing import ConsentTestKeys
from tests.support.shop_stacks import APP_COOKIES, get, serving, set_names, table, write_site_files
from tests.support.snippets import snippet

pytestmark = pytest.mark.slow
DOC = "shops/django.md"
BIN = Path(sys.executable).parent
DJANGO_COOKIES = {"sessionid", "csrftoken", "messages", "django_language"}

#: The test's own page: every kind of cookie at once (a session write, a CSRF token, a flash message,
#: the language cookie, and the app's cookies), and a page that shows the flash messages.
TABLE_VIEWS = f'''
from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.middleware.csrf import get_token

APP_COOKIES = {APP_COOKIES!r}


def cookies(request):
    request.session["cart"] = "db-studio.2"
    get_token(request)
    messages.info(request, "Added to your cart")
    response = HttpResponse("ok")
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, "en")
    for name, value in APP_COOKIES.items():
        response.set_cookie(name, value)
    return response


def flash(request):
    return HttpResponse(" | ".join(str(message) for message in messages.get_messages(request)))
'''


@pytest.fixture(scope="module")
def keys() -> ConsentTestKeys:
    return ConsentTestKeys("shop")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, keys: ConsentTestKeys) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("django") / "project"
    root.mkdir()
    subprocess.run([str(BIN / "django-admin"), "startproject", "shop", str(root)], check=True, timeout=120)
    package = root / "shop"
    # What the docs say, as written.
    with (package / "settings.py").open("a", encoding="utf-8") as settings:
        settings.write("\n" + snippet(DOC, "django-settings"))
    (package / "views.py").write_text(snippet(DOC, "django-views"), encoding="utf-8")
    with (package / "urls.py").open("a", encoding="utf-8") as urls:
        urls.write("\n" + snippet(DOC, "django-urls"))
    (package / "tests.py").write_text(snippet(DOC, "django-tests"), encoding="utf-8")
    write_site_files(root, keys)
    # The test's own page.
    (package / "table_views.py").write_text(TABLE_VIEWS, encoding="utf-8")
    with (package / "urls.py").open("a", encoding="utf-8") as urls:
        urls.write("\nfrom . import table_views\n\nurlpatterns += [path('cookies/', table_views.cookies), "
                   "path('flash/', table_views.flash)]\n")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=root, check=True, timeout=300)
    yield root


SERVERS = {
    "gunicorn": [str(BIN / "gunicorn"), "shop.wsgi", "--bind", "127.0.0.1:{port}", "--workers", "2"],
    "uvicorn": [str(BIN / "uvicorn"), "shop.asgi:application", "--host", "127.0.0.1", "--port", "{port}"],
}


@pytest.mark.parametrize("server", SERVERS)
def test_the_set_cookie_table_flash_messages_and_counters(server: str, project: Path, keys: ConsentTestKeys,
                                                           tmp_path: Path) -> None:
    with serving(SERVERS[server], project, tmp_path / f"{server}.log", "/product/") as base:
        for case, consent, allowed in table(keys):
            status, set_cookies, _ = get(base + "/cookies/", {"consent": consent} if consent else None)
            names = set_names(set_cookies)
            assert status == 200
            assert names & set(APP_COOKIES) == allowed, (case, set_cookies)
            assert DJANGO_COOKIES <= names, (case, "Django's own cookies are necessary", set_cookies)
            if case == "tampered token":
                assert "consent=; Max-Age=0; Path=/" in set_cookies, "the forged cookie is deleted"
            if case in ("reject_all", "analytics only", "accept_all"):
                assert "consent" in names, (case, "a valid token is re-issued from the shop's origin")
                assert not any("Secure" in value for value in set_cookies if value.startswith("consent=")), \
                    "plain http: no Secure"

        # Flash messages survive a visitor who rejected everything.
        reject_all = keys.token(granted=["necessary"])
        _, set_cookies, _ = get(base + "/cookies/", {"consent": reject_all})
        message = next(value for value in set_cookies if value.startswith("messages="))
        _, _, body = get(base + "/flash/", {"consent": reject_all,
                                            "messages": message.split(";")[0].split("=", 1)[1]})
        assert "Added to your cart" in body

        # The docs' view, and the counters from a view (each worker counts its own removals).
        _, set_cookies, body = get(base + "/product/", {"consent": reject_all})
        assert body == "analytics allowed: False" and set_names(set_cookies) == {"consent"}
        _, _, stats = get(base + "/consent-stats/")
        assert set(json.loads(stats)) >= {"removed", "reported", "removed_total", "reissued", "invalid_tokens"}


def test_the_projects_own_tests_see_the_guard(project: Path) -> None:
    run = subprocess.run([sys.executable, "manage.py", "test", "-v", "2"], cwd=project, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Ran 2 tests" in run.stderr and "OK" in run.stderr, run.stderr


def test_secure_follows_djangos_idea_of_https(project: Path, keys: ConsentTestKeys, tmp_path: Path) -> None:
    """Behind a TLS proxy: SECURE_PROXY_SSL_HEADER makes the re-issued consent cookie Secure."""
    settings = project / "shop" / "settings.py"
    original = settings.read_text(encoding="utf-8")
    settings.write_text(original + '\nSECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")\n',
                        encoding="utf-8")
    try:
        with serving(SERVERS["gunicorn"], project, tmp_path / "gunicorn.log", "/product/") as base:
            import urllib.request

            request = urllib.request.Request(base + "/product/", headers={  # noqa: S310
                "Cookie": f"consent={keys.token(granted=['necessary'])}", "X-Forwarded-Proto": "https"})
            with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
                consent = [v for v in response.headers.get_all("Set-Cookie") if v.startswith("consent=")]
            assert consent and "Secure" in consent[0]
    finally:
        settings.write_text(original, encoding="utf-8")
