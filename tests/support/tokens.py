"""Tokens for tests: the service's own keys for a site, and key pairs of the tests' own (a shop's
test keys, or an attacker's)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from consent_service.extensions import db
from consent_service.shop.testing import ConsentTestKeys
from consent_service.tokens import TokenIssuer

EVERYTHING = ("necessary", "preferences", "analytics", "marketing")


class TestKeys(ConsentTestKeys):
    """A key pair of a test's own (the shop side's test keys, with a kid of its own each time):
    `issuer` signs, `public`/`jwks` verify; `token(...)` takes any claim to change."""

    __test__ = False

    def __init__(self, site_id: str = "demo", kid: str | None = None) -> None:
        super().__init__(site_id, kid or "t" + secrets.token_hex(4))

    def token(self, granted: tuple[str, ...] | list[str] = ("necessary", "analytics"), **changes: Any) -> str:
        return issue(self.issuer, granted=granted, **changes)


def issue(issuer: TokenIssuer, *, granted: Any = ("necessary", "analytics"), expires_in: float = 3600,
          **changes: Any) -> str:
    """A token from `issuer` with plausible fields; any of them can be changed."""
    fields: dict[str, Any] = dict(visitor_id="01J0000000000000000000VIS1", policy_version=1, granted=granted,
                                  record_id="01J0000000000000000000REC1", expires_at=int(time.time() + expires_in))
    fields.update(changes)
    return issuer.issue(**fields)


def service_issuer(app: Any, site_id: str = "demo") -> TokenIssuer:
    """The issuer the service signs a site's tokens with (its newest key)."""
    with app.app_context():
        return app.extensions["consent"].keys(db.session, site_id).issuer


def service_jwks(app: Any, site_id: str = "demo") -> dict[str, Any]:
    with app.app_context():
        return app.extensions["consent"].keys(db.session, site_id).public.jwks()


def other_site_issuer(app: Any, site_id: str = "other") -> TokenIssuer:
    """The service's real issuer for a second site (a copy of the demo declared as `site_id`): its
    tokens are genuine, and foreign to the demo site."""
    import tomllib

    from consent_service.sites.declaration import parse_declaration
    from tests.support import DEMO_TOML, sync_site

    raw = tomllib.loads(DEMO_TOML.read_text(encoding="utf-8"))
    raw["site"]["id"] = site_id
    sync_site(app, parse_declaration(raw, site_id))
    return service_issuer(app, site_id)
