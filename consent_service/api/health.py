"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import functools

import sqlalchemy as sa
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Response, jsonify
from flask_smorest import Blueprint

from ..extensions import db
from ..migrations import DIRECTORY as MIGRATIONS_DIR
from .context import services

blp = Blueprint("health", __name__, description="Liveness and readiness probes.")


@blp.route("/healthz", methods=["GET"])
def healthz() -> Response:
    """The process is up."""
    return jsonify({"status": "ok"})


@functools.cache
def _migration_heads() -> set[str]:
    """The newest revision(s) this code ships with, read once from the migrations folder."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS_DIR)
    return set(ScriptDirectory.from_config(config).get_heads())


@blp.route("/readyz", methods=["GET"])
def readyz() -> Response:
    """The database answers with every migration applied, and Redis too when configured (else 503)."""
    checks: dict[str, str] = {}
    try:
        current = MigrationContext.configure(db.session.connection()).get_current_heads()
        checks["database"] = "ok" if set(current) == _migration_heads() else "migrations not applied"
    except sa.exc.SQLAlchemyError:
        checks["database"] = "unavailable"
    finally:
        db.session.rollback()
    redis = services().redis
    if redis.enabled:
        checks["redis"] = "ok" if redis.ping() else "unavailable"
    ready = all(value == "ok" for value in checks.values())
    response = jsonify({"status": "ready" if ready else "unavailable", "checks": checks})
    response.status_code = 200 if ready else 503
    return response
