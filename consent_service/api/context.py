"""What the handlers ask of the current request: the app's services, the site named in the URL,
the caller's API key, the caller's desensitized address and the service's public URL."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app, g, request

from ..auth import Caller, authenticate
from ..consents.record_crypto import desensitize_ip
from ..errors import NotFound
from ..extensions import db
from ..services import Services
from ..sites.declaration import IDENTIFIER
from ..sites.state import SiteState


def services() -> Services:
    return current_app.extensions["consent"]


def json_response(body: Any, status: int = 200) -> Response:
    """A compact JSON answer without jsonify's per-call provider lookups (hot routes use this)."""
    return Response(json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json")


def client_ip_hash() -> str:
    """The caller's address, truncated and peppered (ProxyFix has already applied TRUSTED_PROXIES):
    the rate-limit key and what a record stores; never the address itself."""
    cached = g.get("client_ip_hash")
    if cached is None:
        cached = desensitize_ip(request.remote_addr, services().settings.ip_pepper) or "unknown"
        g.client_ip_hash = cached
    return cached


def visitor_region() -> str | None:
    """The visitor's region from the operator's trusted headers or GeoIP file (regions.py); never
    the body or the query. The address is used for the lookup and not kept."""
    cached = g.get("visitor_region", False)
    if cached is False:
        cached = services().regions.resolve(request.headers, request.remote_addr)
        g.visitor_region = cached
    return cached


def get_site(site_id: str) -> SiteState:
    if not IDENTIFIER.match(site_id):
        raise NotFound("unknown_site", "no such site")
    site = services().site_states.get(db.session, site_id)
    if site is None:
        raise NotFound("unknown_site", "no such site")
    return site


def require_key(site_id: str, scope: str) -> Caller:
    caller = authenticate(db.session, request.headers.get("Authorization"), services().verified_keys)
    caller.require(site_id, scope)
    g.caller = caller
    return caller


def service_url() -> str:
    """The service's public URL (PUBLIC_URL, or the development default): never the request's Host,
    which a client or a poisoned cache entry would choose."""
    return services().settings.public_url


def write_rate_limit() -> str:
    """The configured limit on writes from one desensitized address (Flask-Limiter syntax)."""
    return services().settings.write_rate_limit
