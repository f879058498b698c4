"""Extensions, created once here and bound to an app in app.create_app()."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


def _unkeyed_limit() -> str:
    raise RuntimeError("every rate limit names its own key function (api/context.py: client_ip_hash)")


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
rest_api = Api()
#: Limits are declared on the routes that have them, each keyed by the desensitized address.
limiter = Limiter(key_func=_unkeyed_limit, default_limits=[], headers_enabled=False)
