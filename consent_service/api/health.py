"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Response, jsonify
from flask_smorest import Blueprint

from ..extensions import db
from .common import services

blp = Blueprint("health", __name__, description="Liveness and readiness probes.")


@blp.route("/healthz", methods=["GET"])
def healthz() -> Response:
    """The process is up."""
    return jsonify({"status": "ok"})


@blp.route("/readyz", methods=["GET"])
def readyz() -> Response:
    """The database answers, and Redis too when it is configured (503 otherwise)."""
    checks: dict[str, str] = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        checks["database"] = "unavailable"
    redis = services().redis
    if redis.enabled:
        checks["redis"] = "ok" if redis.ping() else "unavailable"
    ready = all(value == "ok" for value in checks.values())
    response = jsonify({"status": "ready" if ready else "unavailable", "checks": checks})
    response.status_code = 200 if ready else 503
    return response
