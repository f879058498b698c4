"""For shops on Flask: a one-call question about the current request. Imports Flask, so the rest of
the shop package does not."""

from __future__ import annotations

from flask import request

from .guard import consent_decision


def consent_granted(category: str) -> bool:
    """May the current request use cookies of `category`? (outside a guarded app: necessary only)."""
    return consent_decision(request.environ).allows(category)
