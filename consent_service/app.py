"""The app factory: settings from the environment, extensions initialised, per-app services and
one blueprint per audience."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import __version__
from .api import register_blueprints
from .config import Settings
from .db import DATABASE_UNAVAILABLE, configure_engine
from .extensions import db, migrate, rest_api
from .migrations import DIRECTORY as MIGRATIONS_DIR
from .services import Services

#: Static settings of the OpenAPI document and its page.
OPENAPI = {
    "API_TITLE": "Consent service", "API_VERSION": __version__, "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/", "OPENAPI_JSON_PATH": "openapi.json", "OPENAPI_REDOC_PATH": "docs",
    "OPENAPI_REDOC_URL": "https://cdn.jsdelivr.net/npm/redoc@2.1.5/bundles/redoc.standalone.js",
}


def _remove_session(_error: BaseException | None) -> None:
    """End the request's session. Flask-SQLAlchemy's teardown rolls it back too, and raises if its
    connection died during the request (a restart, terminated sessions): a finished answer would
    become a bare 500 from the server. A session whose connection is gone is simply forgotten."""
    try:
        db.session.remove()
    except DATABASE_UNAVAILABLE:
        db.session.registry.clear()


def create_app(env: Mapping[str, str] | None = None) -> Flask:
    """Build the service. Everything comes from `env` (default: os.environ) through Settings."""
    env = os.environ if env is None else env
    # Development secrets and the default SQLite file live in the instance folder.
    instance = env.get("CONSENT_INSTANCE_PATH")
    app = Flask("consent_service", instance_relative_config=True,
                instance_path=os.path.abspath(instance) if instance else None)
    settings = Settings.from_env(env, instance_path=app.instance_path)
    app.config.update(OPENAPI, **settings.flask_config())
    os.makedirs(app.instance_path, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    app.extensions["consent"] = Services(settings)
    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine, app.extensions["consent"].database_outage)
    app.teardown_appcontext(_remove_session)  # runs before Flask-SQLAlchemy's own (newest first)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)
    rest_api.init_app(app)
    register_blueprints(app)
    if settings.trusted_proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies,  # type: ignore[method-assign]
                                x_proto=settings.trusted_proxies, x_host=settings.trusted_proxies)
    return app
