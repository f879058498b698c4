"""Browser fixtures: headless Debian Chromium through Playwright, the real service on one port and the
shop's test pages on another (a different origin, as on a real shop).

- `browser`: the Chromium shared by every browser suite (tests/support/browser.py; skipped when
  missing, a failure under CI=true).
- `service`: the live service (SQLite in a temp dir); `service.site(...)` declares a fresh site
  whose only origin is the page server, and `service.records(site)` lists what was stored.
- `pages`: the page server; `pages.add(path, html, csp=...)` serves a page, `pages.shop(...)`
  builds one that loads the banner.
- `context` / `page`: a fresh browser profile per test (its own cookies and localStorage).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.support.banner_pages import SERVICE_ENV, Pages, Service, page_app, slow_when_asked
from tests.support.browser import ServerThread, late_server


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Pages]]:
    from flask_migrate import upgrade

    from consent_service.app import create_app
    from consent_service.extensions import db

    tmp = tmp_path_factory.mktemp("browser-service")
    pages = Pages()
    page_server = ServerThread(page_app(pages), host="127.0.0.1")
    # The pages are served as http://localhost:<port>: another origin and another cookie jar than
    # the service at http://127.0.0.1:<port>.
    pages.origin = f"http://localhost:{page_server.port}"
    service_server, late = late_server()
    url = f"http://127.0.0.1:{service_server.port}"
    app = create_app(env={**SERVICE_ENV, "DATABASE_URL": f"sqlite:///{tmp / 'consent.sqlite3'}",
                          "REDIS_PREFIX": f"cs-browser-{secrets.token_hex(3)}:", "PUBLIC_URL": url})
    with app.app_context():
        upgrade()
    late.app = slow_when_asked(app)
    service = Service(app=app, url=url, page_origin=pages.origin, tmp=tmp)
    pages.service_url = service.url
    try:
        yield service, pages
    finally:
        service_server.stop()
        page_server.stop()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def service(servers: tuple[Service, Pages]) -> Service:
    return servers[0]


@pytest.fixture
def pages(servers: tuple[Service, Pages]) -> Pages:
    return servers[1]


@pytest.fixture
def site(service: Service) -> str:
    """A fresh demo-like site for this test."""
    return service.site()
