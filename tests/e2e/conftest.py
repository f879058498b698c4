"""End-to-end fixtures: the consent service and the demo shop on two origins, headless Chromium.

The service runs on http://127.0.0.1:<port> (SQLite in a temp dir), the demo shop on
http://localhost:<port>: another origin and another cookie jar; the shop's third party (its video
player and analytics tag, examples/demo_shop/partner.py) on http://127.0.0.2:<port>. The demo site is
declared as in sites/demo.toml, with the shop's test origin as its only origin.
"""

from __future__ import annotations

import secrets
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support import DEMO_TOML
from tests.support.browser import ServerThread, late_server

SERVICE_ENV = {
    "SECRET_KEYS": "e2e-secret-newest-0123456789abcdef0123,e2e-secret-older-0123456789abcdef01234",
    "IP_PEPPER": "e2e-pepper",
    "SITE_CACHE_SECONDS": "0",
    "RATE_LIMIT_WRITES": "10000/minute",
}


@dataclass
class Demo:
    service_url: str
    shop_url: str
    partner_url: str
    service_app: Any
    shop_app: Any

    def records(self) -> list[dict[str, Any]]:
        import sqlalchemy as sa

        from consent_service.extensions import db

        with self.service_app.app_context():
            rows = db.session.execute(sa.text("SELECT method, choices FROM consent_records ORDER BY id"))
            return [dict(row._mapping) for row in rows]


@contextmanager
def running_demo(tmp: Any, extra_env: dict[str, str] | None = None,
                 guard_options: dict[str, Any] | None = None) -> Iterator[Demo]:
    """The service (with `extra_env`) and the demo shop (its guard with `guard_options`), running."""
    from flask_migrate import upgrade

    from consent_service.app import create_app
    from consent_service.extensions import db
    from consent_service.sites.declaration import parse_declaration
    from consent_service.sites.sync import sync_declarations
    from examples.demo_shop import create_shop
    from examples.demo_shop.partner import create_partner

    service_server, late_service = late_server()
    service_url = f"http://127.0.0.1:{service_server.port}"
    service_app = create_app(env={**SERVICE_ENV, "DATABASE_URL": f"sqlite:///{tmp / 'consent.sqlite3'}",
                                  "REDIS_PREFIX": f"cs-e2e-{secrets.token_hex(3)}:", "PUBLIC_URL": service_url,
                                  **(extra_env or {})})
    with service_app.app_context():
        upgrade()
    late_service.app = service_app
    partner_server = ServerThread(create_partner(), host="127.0.0.2")
    partner_url = f"http://127.0.0.2:{partner_server.port}"
    shop_server, late = late_server()
    shop_url = f"http://localhost:{shop_server.port}"

    raw = tomllib.loads(DEMO_TOML.read_text(encoding="utf-8"))
    raw["site"]["origins"] = [shop_url]
    raw["scan"]["start_urls"] = [shop_url + "/"]
    raw["site"]["privacy_policy_url"] = shop_url + "/privacy"
    with service_app.app_context():
        sync_declarations(db.session, [parse_declaration(raw, "demo.toml (e2e)")])
    # The shop gets the service's URL and nothing else: public keys come from its JWKS.
    shop_app = create_shop(service_url=service_url, site_id="demo", guard_options=guard_options,
                           partner_url=partner_url)
    late.app = shop_app
    try:
        yield Demo(service_url, shop_url, partner_url, service_app, shop_app)
    finally:
        shop_app.wsgi_app.close()
        shop_server.stop()
        partner_server.stop()
        service_server.stop()
        with service_app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def demo_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with running_demo(tmp_path_factory.mktemp("e2e-service")) as demo:
        yield demo


@pytest.fixture
def demo(demo_servers: Demo) -> Demo:
    return demo_servers


