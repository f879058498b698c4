"""Endpoints a visitor reaches through the banner with its own token (header `X-Consent-Token`):
its consent history, its receipts, and the erasure of its personal fields. Calls from a browser must come from
one of the site's origins (CORS, preflight included); a missing, forged or other site's token is a
401."""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, jsonify, request
from flask_smorest import Blueprint

from ..compliance.receipts import receipts, receipts_file
from ..compliance.visitor_data import erase, history, visitor_from_token
from ..errors import Forbidden
from ..extensions import db
from ..sites.state import SiteState
from .context import get_site, rate_limited, services
from .cors import allowed_origin, cors_for_site_origins, preflight
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


@blp.after_request
def _private_with_cors(response: Response) -> Response:
    """A visitor's own data is never cached; answers (errors too) carry CORS for the site's origins."""
    response.headers["Cache-Control"] = "no-store"
    return cors_for_site_origins(response)


def _check_origin(site: SiteState) -> None:
    """Browsers must call from one of the site's origins; other clients send no Origin at all."""
    if request.headers.get("Origin") is not None and allowed_origin(site) is None:
        raise Forbidden("origin_not_allowed", "this page's origin is not one of the site's origins")


def _as_visitor(site_id: str, action: Callable[[str, str], Response]) -> Response:
    """Resolve site, origin and token, then run the action for that visitor."""
    site = get_site(site_id)
    _check_origin(site)
    token = request.headers.get(CONSENT_HEADER)
    visitor_id = visitor_from_token(services().keys(db.session, site.id, token).verifier, token)
    return action(site.id, visitor_id)


@blp.route("/<site_id>/visitors/me/consents", methods=["OPTIONS"])
@blp.route("/<site_id>/visitors/me/receipts", methods=["OPTIONS"])
@blp.route("/<site_id>/visitors/me/personal-data", methods=["OPTIONS"])
@blp.doc(summary="CORS preflight: succeeds for the site's origins only")
def preflight_visitor(site_id: str) -> Response:
    return preflight(site_id, PREFLIGHT_HEADERS)


def _download(response: Response, filename: str) -> Response:
    """A visitor's own data, offered as a file to keep."""
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@blp.route("/<site_id>/visitors/me/consents", methods=["GET"], provide_automatic_options=False)
@rate_limited
@documented(blp, errors=(401, 403, 429), parameters=TOKEN_PARAMETER,
            responses={200: (None, "The visitor's records, newest first")})
def my_consents(site_id: str) -> Response:
    """Download my consent record: every choice this visitor made, with its own personal fields."""
    def read(site: str, visitor_id: str) -> Response:
        body = history(db.session, services().keyring, site, visitor_id, actor=f"visitor:{visitor_id}")
        return _download(jsonify(body), "my-consent-record.json")

    return _as_visitor(site_id, read)


@blp.route("/<site_id>/visitors/me/receipts", methods=["GET"], provide_automatic_options=False)
@rate_limited
@documented(blp, errors=(401, 403, 429), parameters=TOKEN_PARAMETER,
            responses={200: (None, "A receipt per record: checkable offline with the site's seal keys")})
def my_receipts(site_id: str) -> Response:
    """Download my receipts: each record with its inclusion proof and the signed seal it is in."""
    def read(site: str, visitor_id: str) -> Response:
        body = receipts(db.session, site, visitor_id, max_age_seconds=services().settings.seal_max_age_seconds,
                        actor=f"visitor:{visitor_id}")
        return _download(Response(receipts_file(body), mimetype="application/json"), "my-consent-receipts.json")

    return _as_visitor(site_id, read)


@blp.route("/<site_id>/visitors/me/personal-data", methods=["DELETE"], provide_automatic_options=False)
@rate_limited
@documented(blp, errors=(401, 403, 429), parameters=TOKEN_PARAMETER,
            responses={200: (None, "Erased; the choices stay as proof of consent")})
def erase_my_data(site_id: str) -> Response:
    """Erase my data: deletes this visitor's key, so its page URLs and user agents are gone."""
    def erase_data(site: str, visitor_id: str) -> Response:
        result = erase(db.session, site, visitor_id, actor=f"visitor:{visitor_id}",
                       cache=services().consent_cache)
        return jsonify(result.to_dict())

    return _as_visitor(site_id, erase_data)
