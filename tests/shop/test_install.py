"""The shop side is light: importing it loads none of the server stack, and the base install (no
extras) is enough to run it."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from consent_service.banner.bundle import MODULES
from tests.support import ROOT

SERVER_STACK = ("flask", "flask_sqlalchemy", "flask_smorest", "flask_limiter", "flask_migrate", "werkzeug",
                "sqlalchemy", "marshmallow", "redis", "psycopg", "alembic", "gunicorn")
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
                    "consent_service.shop.cookie_rules", "consent_service.shop.declarations",
                    "consent_service.decision", "consent_service.tokens", "consent_service.cookie_patterns",
                    "consent_service.times"}, ours


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
