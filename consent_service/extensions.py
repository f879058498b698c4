"""Extensions, created once here and bound to an app in create_app()."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
rest_api = Api()


def _rate_limit_key() -> str:
    # Imported late: the limiter is created before the app and its request helpers.
    from .api.common import client_ip_hash

    return client_ip_hash()


limiter = Limiter(key_func=_rate_limit_key, default_limits=[], headers_enabled=False)
