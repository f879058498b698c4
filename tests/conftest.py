"""Shared fixtures. Storage tests run twice: on SQLite and on a real PostgreSQL (a fresh database
per test run). Cache and rate-limit tests use a real Redis. With CI=true a missing PostgreSQL,
Redis or Chromium fails the run instead of skipping.

Fixtures other test modules use:
- `app` / `client`: a service on the parametrized database, demo site not yet synced.
- `make_app(**env)`: another app on the same database with extra environment (e.g. REDIS_URL).
- `demo`: the demo site synced; returns its SiteState.
- `consent_body(**changes)`: a valid POST body for the demo site.
- `redis_url`: the shared Redis, with keys under a prefix unique to this run.
- `private_redis` / `redis_server`: a Redis server of the test's own, which the test may stop.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from consent_service.app import create_app
from consent_service.extensions import db
from tests.support import DEMO_ORIGIN, RUN_ID, TEST_ENV, drop_redis_keys, require_service, services, sync_demo
from tests.support.browser import browser, context, page  # noqa: F401  (shared Chromium fixtures)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked postgres_only is not collected for the SQLite run (deselected, not skipped)."""
    kept, dropped = [], []
    for item in items:
        on_sqlite = getattr(item, "callspec", None) and item.callspec.params.get("database_url") == "sqlite"
        (dropped if on_sqlite and item.get_closest_marker("postgres_only") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as error:
        require_service("PostgreSQL", str(error).strip())
    return url


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'consent.sqlite3'}"
        return
    import psycopg

    admin_url = request.getfixturevalue("postgres_admin_url")
    name = f"consent_test_{RUN_ID}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield admin_url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def migrated_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The database with every migration applied, once per run."""
    from flask_migrate import upgrade

    app = create_app(env={**TEST_ENV, "DATABASE_URL": database_url})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return database_url


@pytest.fixture
def make_app(migrated_url: str) -> Any:
    apps = []

    def factory(**env: str) -> Any:
        app = create_app(env={**TEST_ENV, "DATABASE_URL": migrated_url, **env})
        apps.append(app)
        return app

    yield factory
    if apps:
        with apps[0].app_context():
            db.session.remove()
            with db.engine.begin() as connection:
                for table in reversed(db.metadata.sorted_tables):
                    connection.execute(table.delete())
        for app in apps:
            with app.app_context():
                db.engine.dispose()
            try:
                drop_redis_keys(services(app).settings.redis_url, f"*{RUN_ID}*")
            except redis.RedisError:
                pass  # a test that stopped its own Redis: nothing of it is left to drop


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def demo(app: Any) -> Any:
    return sync_demo(app)


@pytest.fixture
def consent_body() -> Callable[..., dict[str, Any]]:
    def build(**changes: Any) -> dict[str, Any]:
        body = {
            "policy_version": 1,
            "choices": {"necessary": True, "preferences": False, "analytics": True, "marketing": False},
            "method": "custom", "language": "en", "page_url": f"{DEMO_ORIGIN}/products?ref=mail#top",
            "banner_version": "test",
        }
        body.update(changes)
        return body

    return build


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        require_service("Redis", str(error))
    return url


@pytest.fixture
def redis_server(tmp_path: Path) -> Any:
    """A Redis server this test owns and may stall, kill or restart (devserver.RedisServer);
    stopped by its process id afterwards."""
    from consent_service.devserver import RedisServer

    if shutil.which("redis-server") is None:
        require_service("redis-server", "binary not found")
    server = RedisServer(tmp_path)
    yield server
    server.kill()


@pytest.fixture
def private_redis(redis_server: Any) -> Any:
    """(url, process) of a Redis server this test owns (and may stop)."""
    return redis_server.url, redis_server.process
