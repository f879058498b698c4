"""A consent and cookie-management service: records every visitor's choice as proof, issues signed
preferences a shop's backend verifies locally, serves the banner and exports for auditors."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import Settings
from .consent_cache import ConsentCache
from .extensions import db, limiter, migrate, rest_api
from .redis_store import RedisStore
from .tokens import TokenSigner

__version__ = "0.1.0"
MIGRATIONS_DIR = __path__[0] + "/migrations"


class Services:
    """Per-app objects the request handlers share: settings, Redis, cache and token signers."""

    def __init__(self, settings: Settings, redis_prefix: str) -> None:
        self.settings = settings
        self.redis = RedisStore(settings.redis_url, prefix=redis_prefix)
        self.consent_cache = ConsentCache(self.redis)
        self._signers: dict[str, TokenSigner] = {}

    def signer(self, site_id: str) -> TokenSigner:
        signer = self._signers.get(site_id)
        if signer is None:
            signer = self._signers[site_id] = TokenSigner(site_id, self.settings.secret_keys)
        return signer


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_app(overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Flask:
    """Build the service. `env` replaces os.environ (tests); `overrides` set Flask config last."""
    app = Flask(__name__, instance_relative_config=True)
    settings = Settings.from_env(env, instance_path=app.instance_path)
    app.config.update(settings.flask_config())
    app.config.update(
        API_TITLE="Consent service", API_VERSION=__version__, OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/", OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_REDOC_PATH="docs",
        OPENAPI_REDOC_URL="https://cdn.jsdelivr.net/npm/redoc@2.1.5/bundles/redoc.standalone.js",
        RATELIMIT_STORAGE_URI=settings.redis_url or "memory://",
        RATELIMIT_STORAGE_OPTIONS={"socket_timeout": 0.25, "socket_connect_timeout": 0.25},
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True, RATELIMIT_SWALLOW_ERRORS=True,
        RATELIMIT_KEY_PREFIX="cs-limit", REDIS_PREFIX="cs:",
    )
    if overrides:
        app.config.update(overrides)
    os.makedirs(app.instance_path, exist_ok=True)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    services = Services(settings, app.config["REDIS_PREFIX"])
    app.extensions["consent"] = services

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)
    limiter.init_app(app)
    # Limits are declared on the routes that have them (the banner's writes), and those decorators
    # enforce them; the app-wide hook would only repeat the lookup on every other request.
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    rest_api.init_app(app)

    from .auth import verified_keys
    from .policies import site_states

    site_states.ttl_seconds = settings.site_cache_seconds
    verified_keys.ttl_seconds = settings.api_key_cache_seconds

    from .api import register_blueprints

    register_blueprints(app)
    if settings.trusted_proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies,
                                x_host=settings.trusted_proxies)
    return app
