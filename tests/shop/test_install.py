"""The shop side is light: importing it loads none of the server stack, and the base install (no
extras) is enough to run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from consent_service.banner.bundle import MODULES
from tests.support import ROOT

SERVER_STACK = ("flask", "flask_sqlalchemy", "flask_smorest", "flask_limiter", "flask_migrate", "werkzeug",
                "sqlalchemy", "marshmallow", "redis", "psycopg", "alembic", "gunicorn",
                # the frameworks a shop may run on: their helpers are imported by name, never by the package
                "django", "starlette", "fastapi", "uvicorn", "asgiref", "httpx")
SETUPTOOLS_WARNINGS = ("would be ignored", "SetuptoolsDeprecationWarning", "_DeprecatedInstaller",
                       "BuildBackendWarning", "InformationOnly")
LOADED = """
import json, sys
import consent_service.shop
from consent_service.shop import ConsentClient, ConsentGuard, consent_decision
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} | set(sys.modules))))
"""


def loaded_modules(python: str) -> set[str]:
    run = subprocess.run([python, "-c", LOADED], capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(run.stdout))


def test_importing_the_shop_side_loads_no_server_module():
    loaded = loaded_modules(sys.executable)
    assert not loaded & set(SERVER_STACK)
    ours = {name for name in loaded if name.startswith("consent_service.")}
    assert ours <= {"consent_service.shop", "consent_service.shop.guard", "consent_service.shop.client",
                    "consent_service.shop.cookie_rules", "consent_service.shop.remote", "consent_service.shop.keys",
                    "consent_service.shop.set_cookie", "consent_service.shop.frameworks",
                    "consent_service.shop.asgi", "consent_service.decision", "consent_service.tokens",
                    "consent_service.cookie_patterns", "consent_service.times",
                    # Pure standard library: the consent models and where a visitor is.
                    "consent_service.regimes", "consent_service.regions"}, ours


NO_SECRET = """
import json, os, sys
from consent_service.shop import ConsentGuard
assert not [name for name in os.environ if "SECRET" in name or "PEPPER" in name], sorted(os.environ)
jwks, site_file, token = sys.argv[1:]
seen = []
def shop(environ, start_response):
    start_response("200 OK", [("Set-Cookie", "ad_id=1; Path=/"), ("Set-Cookie", "_ga=1; Path=/")])
    return [b""]
guard = ConsentGuard(shop, site_id="demo", declarations=site_file, keys=jwks)
for cookie in ("consent=" + token, "consent=" + token[:-2] + "xx"):
    environ = {"HTTP_COOKIE": cookie}
    list(guard(environ, lambda status, headers, exc_info=None: seen.append(
        (environ["consent.decision"].status, sorted(v.split("=")[0] for k, v in headers)))))
print(json.dumps(seen))
"""


def test_the_shop_side_runs_with_no_secret_in_its_environment(tmp_path):
    """A shop holds the site's public keys and nothing else: the guard, in a fresh interpreter whose
    environment has no secret at all, accepts a genuine token and refuses a forged one."""
    from tests.support import DEMO_TOML
    from tests.support.tokens import TestKeys

    keys = TestKeys("demo")
    jwks = tmp_path / "demo.jwks.json"
    jwks.write_text(json.dumps(keys.jwks))
    environment = {name: value for name, value in os.environ.items()
                   if name in ("PATH", "HOME", "LANG", "SYSTEMROOT", "PYTHONPATH")}
    run = subprocess.run([sys.executable, "-c", NO_SECRET, str(jwks), str(DEMO_TOML),
                          keys.token(granted=["necessary", "marketing"])],
                         capture_output=True, text=True, timeout=120, env={**environment, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [["valid", ["ad_id", "consent"]], ["invalid", ["consent"]]]


@pytest.mark.slow
def test_the_base_install_runs_the_shop_side(tmp_path: Path):
    """pip install of the package without extras: the server's dependencies are not even there."""
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = str(environment / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "-v", str(ROOT)], check=True, timeout=600,
                             capture_output=True, text=True)
    # Nothing from setuptools that a newcomer would worry about (pip's own notes about this machine's
    # package indexes are not the project's).
    for warning in SETUPTOOLS_WARNINGS:
        assert warning not in install.stdout + install.stderr, warning
    installed = subprocess.run([python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True,
                               check=True).stdout
    names = {entry["name"].lower() for entry in json.loads(installed)}
    assert not names & {"flask", "sqlalchemy", "marshmallow", "redis", "psycopg", "gunicorn"}
    assert not loaded_modules(python) & set(SERVER_STACK)
    # The wheel carries what the service needs besides Python files: the banner's sources and CSS, the
    # migrations' settings and the scanner's cookie database with its licence.
    where = subprocess.run([python, "-c", "import consent_service, pathlib; print(pathlib.Path("
                            "consent_service.__file__).parent)"], capture_output=True, text=True, check=True)
    package = Path(where.stdout.strip())
    assert sorted(p.name for p in (package / "banner" / "src").glob("*.js")) == sorted(MODULES)
    assert (package / "banner" / "banner.css").is_file() and (package / "migrations" / "alembic.ini").is_file()
    data = package / "scan" / "data"
    assert {"open-cookie-database.csv", "LICENSE", "NOTICE.md"} <= {p.name for p in data.iterdir()}


@pytest.mark.slow
def test_the_development_install_is_quiet(tmp_path: Path):
    """`make install` installs the checkout in editable mode: setuptools has nothing to warn about."""
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    install = subprocess.run([str(environment / "bin" / "python"), "-m", "pip", "install", "-v", "--no-deps", "-e",
                              str(ROOT)], check=True, timeout=600, capture_output=True, text=True)
    for warning in SETUPTOOLS_WARNINGS:
        assert warning not in install.stdout + install.stderr, warning
