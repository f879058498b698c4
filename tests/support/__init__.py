"""Helpers and constants shared by the test suites: `from tests.support import ...` (never from a
conftest, never from bench)."""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from consent_service.extensions import db
from consent_service.sites.declaration import load_site_file
from consent_service.sites.sync import sync_declarations

ROOT = Path(__file__).resolve().parents[2]
DEMO_TOML = ROOT / "sites" / "demo.toml"
CI = os.environ.get("CI") == "true"
DEMO_ORIGIN = "http://127.0.0.1:8000"
RUN_ID = f"{os.getpid()}_{secrets.token_hex(3)}"
TEST_ENV = {
    "SECRET_KEYS": "test-secret-newest-0123456789abcdef,test-secret-older-0123456789abcdef",
    "IP_PEPPER": "test-pepper",
    "SITE_CACHE_SECONDS": "0",
    "RATE_LIMIT_WRITES": "1000/minute",
    "REDIS_PREFIX": f"cs-test-{RUN_ID}:",
    "PUBLIC_URL": "https://consent.test",
}


def require_service(what: str, reason: str) -> None:
    """Skip locally, fail in CI: CI must exercise every real part."""
    message = f"{what} is not available: {reason}"
    if CI:
        pytest.fail(message + " (CI=true: this is a failure, not a skip)")
    pytest.skip(message)


def services(app: Any) -> Any:
    """The app's per-app services (caches, signing keys, the record store)."""
    return app.extensions["consent"]


def sync_demo(app: Any, path: Path = DEMO_TOML) -> Any:
    """Sync a site file (the demo by default) into the app's database; returns its SiteState."""
    declaration = load_site_file(path)
    return sync_site(app, declaration)


def sync_site(app: Any, declaration: Any) -> Any:
    """Sync a parsed declaration into the app's database; returns its SiteState."""
    with app.app_context():
        sync_declarations(db.session, [declaration], services(app).site_states)
        return services(app).site_states.get(db.session, declaration.site_id)


def site_state(app: Any, site_id: str = "demo") -> Any:
    with app.app_context():
        return services(app).site_states.get(db.session, site_id)


def drop_redis_keys(url: str | None, pattern: str) -> None:
    """Delete a test's Redis keys, on a client of its own (never the service's connections)."""
    if url:
        import redis

        with redis.Redis.from_url(url, socket_timeout=5) as client:
            for key in client.scan_iter(pattern):
                client.delete(key)


def count_records(app: Any) -> int:
    with app.app_context():
        return db.session.execute(sa.text("SELECT count(*) FROM consent_records")).scalar_one()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
