"""The HTTP layer: one blueprint per audience (banner, shop backend, compliance, admin)."""

from __future__ import annotations

from flask import Flask

from ..extensions import limiter, rest_api
from .common import register_error_handlers


def register_blueprints(app: Flask) -> None:
    from . import admin, backend, banner, compliance, health, visitor

    for module in (banner, backend, health, compliance, admin, visitor):
        rest_api.register_blueprint(module.blp)
    # Only the banner's writes are rate limited; the rest skip the limiter's per-request work.
    for module in (backend, health, compliance, admin):
        limiter.exempt(module.blp)
    register_error_handlers(app)
