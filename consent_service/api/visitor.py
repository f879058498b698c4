"""Endpoints a visitor reaches through the banner with its own token (header `X-Consent-Token`):
its consent history, and the erasure of its personal fields. Calls from a browser must come from
one of the site's origins (CORS, preflight included); a missing, forged or other site's token is a
401."""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, jsonify, request
from flask_smorest import Blueprint

from ..errors import Forbidden, ServiceError
from ..extensions import db, limiter
from ..policies import SiteState
from ..visitor_data import erase, history, visitor_from_token
from .common import allowed_origin, cors, error_response, get_site, preflight, services
from .openapi import documented

blp = Blueprint("visitor", __name__, url_prefix="/v1/sites",
                description="For visitors, through the banner: their own records and erasure.")

PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, DELETE",
    "Access-Control-Allow-Headers": "X-Consent-Token",
    "Access-Control-Max-Age": "600",
}
CONSENT_HEADER = "X-Consent-Token"
TOKEN_PARAMETER = [{"in": "header", "name": CONSENT_HEADER, "required": True, "schema": {"type": "string"}}]


def _limit() -> str:
    return services().settings.write_rate_limit


def _origin_or_none(site: SiteState) -> str | None:
    """Browsers must call from one of the site's origins; other clients send no Origin at all."""
    if request.headers.get("Origin") is None:
        return None
    origin = allowed_origin(site)
    if origin is None:
        raise Forbidden("origin_not_allowed", "this page's origin is not one of the site's origins")
    return origin


def _as_visitor(site_id: str, action: Callable[[str, str], Response]) -> Response:
    """Resolve site, origin and token, run the action for that visitor, and answer with CORS
    headers for the site's origins, errors included (so the banner can read them)."""
    site = get_site(site_id)
    origin = _origin_or_none(site)
    try:
        visitor_id = visitor_from_token(services().signer(site.id), request.headers.get(CONSENT_HEADER))
        response = action(site.id, visitor_id)
    except ServiceError as error:
        response = error_response(error)
    response.headers["Cache-Control"] = "no-store"
    return cors(response, origin)


@blp.route("/<site_id>/visitors/me/consents", methods=["OPTIONS"])
@blp.route("/<site_id>/visitors/me/personal-data", methods=["OPTIONS"])
@blp.doc(summary="CORS preflight: succeeds for the site's origins only")
def preflight_visitor(site_id: str) -> Response:
    return preflight(site_id, PREFLIGHT_HEADERS)


@blp.route("/<site_id>/visitors/me/consents", methods=["GET"], provide_automatic_options=False)
@limiter.limit(_limit)
@documented(blp, errors=(401, 403, 429), parameters=TOKEN_PARAMETER,
            responses={200: (None, "The visitor's records, newest first")})
def my_consents(site_id: str) -> Response:
    """Download my consent record: every choice this visitor made, with its own personal fields."""
    def read(site: str, visitor_id: str) -> Response:
        response = jsonify(history(db.session, site, visitor_id, actor=f"visitor:{visitor_id}"))
        response.headers["Content-Disposition"] = 'attachment; filename="my-consent-record.json"'
        return response

    return _as_visitor(site_id, read)


@blp.route("/<site_id>/visitors/me/personal-data", methods=["DELETE"], provide_automatic_options=False)
@limiter.limit(_limit)
@documented(blp, errors=(401, 403, 429), parameters=TOKEN_PARAMETER,
            responses={200: (None, "Erased; the choices stay as proof of consent")})
def erase_my_data(site_id: str) -> Response:
    """Erase my data: deletes this visitor's key, so its page URLs and user agents are gone."""
    def erase_data(site: str, visitor_id: str) -> Response:
        result = erase(db.session, site, visitor_id, actor=f"visitor:{visitor_id}",
                       cache=services().consent_cache)
        return jsonify(result.to_dict())

    return _as_visitor(site_id, erase_data)
