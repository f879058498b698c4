"""What a shop's backend imports: the guard (WSGI middleware that verifies the visitor's consent
token locally and removes the cookies it does not allow), its cookie rules, the declarations kept
current from the service, and a small client for the service's backend API.

It needs only the standard library, `urllib3` and the project's own pure modules (tokens,
decisions, cookie patterns); importing it loads no Flask, SQLAlchemy, marshmallow or redis. A test
checks that in a fresh interpreter. `consent_service.shop.flask` adds a Flask helper."""

from ..decision import ConsentDecision
from .client import ConsentClient
from .cookie_rules import CookieRules, is_deletion
from .guard import DECISION_KEY, GPC_KEY, ConsentGuard, consent_decision

__all__ = ["DECISION_KEY", "GPC_KEY", "ConsentClient", "ConsentDecision", "ConsentGuard", "CookieRules",
           "consent_decision", "is_deletion"]
