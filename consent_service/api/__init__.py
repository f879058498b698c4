"""The HTTP layer: one blueprint per audience (banner, shop backend, compliance, admin, visitors,
health), with JSON errors, CORS and strict parameters shared between them."""

from __future__ import annotations

from flask import Flask

from ..extensions import rest_api
from . import admin, backend, banner, compliance, health, visitor
from .errors import register_error_handlers


def register_blueprints(app: Flask) -> None:
    for module in (banner, backend, health, compliance, admin, visitor):
        rest_api.register_blueprint(module.blp)
    register_error_handlers(app)
