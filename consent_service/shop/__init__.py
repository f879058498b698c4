"""What a shop's backend imports: the guard (WSGI middleware that verifies the visitor's consent
token locally and removes the cookies it does not allow), its cookie rules, the site's public keys
and declarations kept current from the service, and a small client for the service's backend API.

It holds public keys only: nothing here needs, or could use, a service secret. It needs only the
standard library, `urllib3`, `cryptography`, the JOSE library (PyJWT) and the project's own pure
modules (tokens, decisions, cookie patterns); importing it loads no Flask, SQLAlchemy, marshmallow
or redis. A test checks that in a fresh interpreter. The guard is WSGI middleware (ConsentGuard) and
ASGI middleware (ASGIConsentGuard, asgi.py) over one engine; `consent_service.shop.flask` adds a Flask
helper, `consent_service.shop.django` the Django middleware, and `consent_service.shop.testing` test
keys for a shop's own tests — each imported by name."""

from ..decision import ConsentDecision
from ..tokens import PublicKeys
from .asgi import ASGIConsentGuard
from .client import ConsentClient
from .cookie_rules import CookieRules
from .guard import DECISION_KEY, GPC_KEY, ConsentGuard, consent_decision
from .keys import load_keys
from .set_cookie import is_deletion, parse_set_cookie

__all__ = ["DECISION_KEY", "GPC_KEY", "ASGIConsentGuard", "ConsentClient", "ConsentDecision", "ConsentGuard",
           "CookieRules", "PublicKeys", "consent_decision", "is_deletion", "load_keys", "parse_set_cookie"]
