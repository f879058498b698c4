"""CORS for the public endpoints the banner calls from the shop's pages: only the site's own
origins may read answers (errors included) and send preflighted requests."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from ..db import DATABASE_UNAVAILABLE
from ..errors import Forbidden, ServiceError
from ..sites.state import SiteState
from .context import get_site


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
    if "Vary" in response.headers:
        response.vary.add("Origin")
    else:  # the usual case, without parsing a header set (this runs on every write)
        response.headers["Vary"] = "Origin"
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
    for the site's origins, so the banner can read error codes. It never fails the answer: when the
    site cannot be known (unknown, or the database lost before this process ever loaded it) the
    answer goes without them."""
    site_id = (request.view_args or {}).get("site_id")
    if site_id and "Access-Control-Allow-Origin" not in response.headers:
        origin = None
        if request.headers.get("Origin"):
            try:
                origin = allowed_origin(get_site(site_id))
            except (ServiceError, *DATABASE_UNAVAILABLE):
                origin = None
        cors(response, origin)
    return response
