"""Issue 16's FastAPI app: docs/shops/fastapi.md's snippet as written, with one route of the test's own
that sets a cookie of each kind, served by uvicorn; it must pass the Set-Cookie table, and the docs'
test snippet must pass under pytest with FastAPI's test client (which sees the guard)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from consent_service.shop.testing import ConsentTestKeys
from tests.support.shop_stacks import APP_COOKIES, get, serving, set_names, table, write_site_files
from tests.support.snippets import snippet

pytestmark = pytest.mark.slow
DOC = "shops/fastapi.md"
BIN = Path(sys.executable).parent

TABLE_ROUTE = f'''

# The test's own route: every kind of cookie at once, Starlette's session cookie among them.
@app.get("/cookies")
def cookies() -> Response:
    response = Response("ok")
    response.set_cookie("session", "s1", httponly=True)
    for name, value in {APP_COOKIES!r}.items():
        response.set_cookie(name, value)
    return response
'''


@pytest.fixture(scope="module")
def keys() -> ConsentTestKeys:
    return ConsentTestKeys("shop")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, keys: ConsentTestKeys) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("fastapi")
    (root / "main.py").write_text(snippet(DOC, "fastapi-app") + TABLE_ROUTE, encoding="utf-8")
    (root / "test_consent.py").write_text(snippet(DOC, "fastapi-tests"), encoding="utf-8")
    write_site_files(root, keys)
    yield root


def test_the_set_cookie_table_under_uvicorn(project: Path, keys: ConsentTestKeys, tmp_path: Path) -> None:
    command = [str(BIN / "uvicorn"), "main:app", "--host", "127.0.0.1", "--port", "{port}"]
    with serving(command, project, tmp_path / "uvicorn.log", "/product") as base:
        for case, consent, allowed in table(keys):
            status, set_cookies, _ = get(base + "/cookies", {"consent": consent} if consent else None)
            names = set_names(set_cookies)
            assert status == 200
            assert names & set(APP_COOKIES) == allowed, (case, set_cookies)
            assert "session" in names, (case, "Starlette's session cookie is necessary", set_cookies)
            if case == "tampered token":
                assert "consent=; Max-Age=0; Path=/" in set_cookies
            if case in ("reject_all", "analytics only", "accept_all"):
                assert "consent" in names, case
        _, set_cookies, body = get(base + "/product", {"consent": keys.token(granted=["necessary", "analytics"])})
        assert body == '{"analytics":true}' and set_names(set_cookies) == {"_ga", "consent"}


def test_the_apps_own_tests_see_the_guard(project: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_consent.py"],
                         cwd=project, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout, run.stdout
