"""What every blueprint shares: JSON errors, the caller's desensitized IP, site lookup, API-key
checks and CORS for the banner's origins."""

from __future__ import annotations

import json
import logging
from typing import Any

import psycopg
from flask import Flask, Response, current_app, g, jsonify, request
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from .. import Services
from ..auth import Caller, authenticate
from ..errors import Forbidden, NotFound, ServiceError
from ..extensions import db
from ..policies import SiteState, site_states
from ..proof import desensitize_ip
from ..sites import IDENTIFIER

log = logging.getLogger(__name__)

#: Stable codes for errors raised by Flask/Werkzeug itself.
HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "invalid_body", 429: "rate_limited",
}


def services() -> Services:
    return current_app.extensions["consent"]


def json_response(body: Any, status: int = 200) -> Response:
    """A compact JSON answer without jsonify's per-call provider lookups (hot routes use this)."""
    return Response(json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json")


def error_response(error: ServiceError) -> Response:
    response = jsonify(error.to_dict())
    response.status_code = error.status
    return response


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    code = HTTP_CODES.get(status, "http_error")
    message = "too many requests; slow down" if status == 429 else (error.description or error.name)
    return error_response(ServiceError(code, message, status=status))


def _database_unavailable(error: Exception) -> Response:
    """The database dropped or refused a connection: a retryable outage, not the caller's fault.
    The banner keeps the choice in its queue and sends it again."""
    log.warning("database unavailable: %s", type(error).__name__)
    response = error_response(ServiceError("database_unavailable", "the service cannot reach its database; "
                                           "try again shortly", status=503))
    response.headers["Retry-After"] = "5"
    return response


def _unexpected(error: Exception) -> Response:
    log.exception("unhandled error")
    return error_response(ServiceError("internal_error", "something went wrong on our side", status=500))


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ServiceError, error_response)
    app.register_error_handler(HTTPException, _http_error)
    for error in (sa_exc.OperationalError, psycopg.OperationalError):
        app.register_error_handler(error, _database_unavailable)
    app.register_error_handler(Exception, _unexpected)


def client_ip_hash() -> str:
    """The caller's address, truncated and peppered (ProxyFix has already applied TRUSTED_PROXIES)."""
    cached = g.get("client_ip_hash")
    if cached is None:
        cached = desensitize_ip(request.remote_addr, services().settings.ip_pepper) or "unknown"
        g.client_ip_hash = cached
    return cached


def get_site(site_id: str) -> SiteState:
    if not IDENTIFIER.match(site_id):
        raise NotFound("unknown_site", "no such site")
    site = site_states.get(db.session, site_id)
    if site is None:
        raise NotFound("unknown_site", "no such site")
    return site


def require_key(site_id: str, scope: str) -> Caller:
    caller = authenticate(db.session, request.headers.get("Authorization"))
    caller.require(site_id, scope)
    g.caller = caller
    return caller


def service_url() -> str:
    return services().settings.public_url or request.host_url.rstrip("/")


def allowed_origin(site: SiteState) -> str | None:
    """The request's Origin when it is one of the site's origins, else None."""
    origin = request.headers.get("Origin")
    return origin if origin and origin.rstrip("/") in site.origins else None


def require_origin(site: SiteState) -> str:
    origin = allowed_origin(site)
    if origin is None:
        raise Forbidden("origin_not_allowed", "this page's origin is not one of the site's origins")
    return origin


def cors(response: Response, origin: str | None, **extra: Any) -> Response:
    response.vary.add("Origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        for name, value in extra.items():
            response.headers[name] = value
    return response


def preflight(site_id: str, headers: dict[str, str]) -> Response:
    """A CORS preflight answer: 204 with the given Allow headers for the site's origins, else 403."""
    return cors(Response(status=204), require_origin(get_site(site_id)), **headers)


def cors_for_site_origins(response: Response) -> Response:
    """After-request hook for public blueprints: every answer, errors included, carries CORS headers
    for the site's origins, so the banner can read error codes."""
    site_id = (request.view_args or {}).get("site_id")
    if site_id and "Access-Control-Allow-Origin" not in response.headers:
        origin = None
        if request.headers.get("Origin"):
            try:
                origin = allowed_origin(get_site(site_id))
            except ServiceError:
                origin = None
        cors(response, origin)
    return response


def write_rate_limit() -> str:
    """The configured limit on writes from one desensitized address (Flask-Limiter syntax)."""
    return services().settings.write_rate_limit
