"""Scanner fixtures: the real service (SQLite in a temp dir) on http://127.0.0.1:<port>, the fixture
shop on http://localhost:<port> (another origin and another cookie jar), and the third parties on
other loopback addresses: video on 127.0.0.2, ads on 127.0.0.3, stats on 127.0.0.4.

Scans run in a thread of their own: Playwright's sync API allows one instance per thread, and the
browser suites may hold one in the main thread for the whole run.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from consent_service.devserver import LateApp
from tests.support.browser import ServerThread, chromium_executable

from .site import INTERACTIONS, SITE_ID, create_shop, create_third_party, declaration

SECRET_KEYS = ["scan-secret-newest-0123456789abcdef012345"]
SERVICE_ENV = {"SECRET_KEYS": ",".join(SECRET_KEYS), "IP_PEPPER": "scan-pepper", "SITE_CACHE_SECONDS": "0",
               "RATE_LIMIT_WRITES": "10000/minute"}


@dataclass
class ScanSite:
    service_url: str
    shop_url: str
    hosts: dict[str, str]
    config: dict[str, Any]
    #: The service's environment (its SQLite database included): the CLI runs against the same one.
    env: dict[str, str]

    @property
    def start(self) -> str:
        return self.shop_url + "/"


def run_scan(*args: Any, **kwargs: Any) -> Any:
    """scan(...) in a fresh thread (its own Playwright); exceptions come back to the caller."""
    from consent_service.scan import scan

    with ThreadPoolExecutor(1, thread_name_prefix="scan") as pool:
        return pool.submit(scan, *args, **kwargs).result(timeout=600)


@pytest.fixture(scope="session")
def scan_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScanSite]:
    from flask_migrate import upgrade

    from consent_service.app import create_app
    from consent_service.extensions import db
    from consent_service.scan import fetch_config
    from consent_service.sites.declaration import parse_declaration
    from consent_service.sites.sync import sync_declarations

    tmp = tmp_path_factory.mktemp("scan-service")
    service = LateApp()
    servers = [ServerThread(service)]
    service_url = f"http://127.0.0.1:{servers[0].port}"
    env = {**SERVICE_ENV, "DATABASE_URL": f"sqlite:///{tmp / 'consent.sqlite3'}", "PUBLIC_URL": service_url,
           "REDIS_PREFIX": f"cs-scan-{secrets.token_hex(3)}:"}
    service_app = service.app = create_app(env=env)
    with service_app.app_context():
        upgrade()
    try:
        third_party = create_third_party()
        hosts = {}
        for name, address in (("video", "127.0.0.2"), ("ads", "127.0.0.3"), ("stats", "127.0.0.4")):
            servers.append(ServerThread(third_party, host=address))
            hosts[name] = f"http://{address}:{servers[-1].port}"
        late = LateApp()
        servers.append(ServerThread(late))
        shop_url = f"http://localhost:{servers[-1].port}"
        with service_app.app_context():
            shared = service_app.extensions["consent"]
            sync_declarations(db.session, [parse_declaration(declaration(shop_url), "scan fixture")],
                              shared.site_states, shared.keyring)
        late.app = create_shop(service_url=service_url, hosts=hosts)
        yield ScanSite(service_url, shop_url, hosts, fetch_config(service_url, SITE_ID), env)
    finally:
        for server in reversed(servers):
            server.stop()
        with service_app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium (skipped when missing, a failure under CI=true)."""
    return chromium_executable()


@pytest.fixture(scope="session")
def full_scan(scan_site: ScanSite, chromium: str) -> Any:
    """One scan of the whole fixture site, shared by the tests that check what it found."""
    return run_scan([scan_site.start], config=scan_site.config, max_pages=10, interactions=INTERACTIONS)
