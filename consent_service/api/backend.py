"""Endpoints for a shop's backend (API key with the `read` scope): a visitor's current consent,
and token verification for backends that would rather not verify locally. Both answer in the one
wire form of decision.py."""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint

from ..consents.current import current_consent
from ..errors import ServiceError
from ..extensions import db
from ..ids import is_id
from .body import load_json
from .context import get_site, json_response, require_key, services
from .openapi import documented
from .schemas import ConsentDecisionSchema, TokenVerifyRequestSchema

blp = Blueprint("backend", __name__, url_prefix="/v1/sites",
                description="For shop backends; needs an API key with the read scope.")
_verify_request = TokenVerifyRequestSchema()


@blp.route("/<site_id>/visitors/<visitor_id>/consent", methods=["GET"])
@documented(blp, errors=(400, 401, 403, 404), responses={200: (ConsentDecisionSchema, "The visitor's standing")})
def get_visitor_consent(site_id: str, visitor_id: str) -> Response:
    """A visitor's current choice and its status (valid, expired, outdated or none)."""
    require_key(site_id, "read")
    site = get_site(site_id)
    if not is_id(visitor_id):
        raise ServiceError("invalid_visitor_id", "that is not a visitor id")
    return json_response(current_consent(db.session, site, visitor_id, services().consent_cache).to_dict())


@blp.route("/<site_id>/tokens/verify", methods=["POST"])
@documented(blp, body=TokenVerifyRequestSchema, errors=(401, 403, 404, 415, 422),
            responses={200: (ConsentDecisionSchema, "What the token says and whether it holds")})
def verify_token(site_id: str) -> Response:
    """Verify a preference token as the guard would, for backends that cannot do it locally."""
    require_key(site_id, "read")
    site = get_site(site_id)
    token = load_json(_verify_request)["token"]
    verifier = services().keys(db.session, site.id, token).verifier
    return json_response(verifier.verify(token, current_policy_version=site.version).to_dict())
