"""Endpoints for a shop's backend (API key with the `read` scope): a visitor's current consent,
and token verification for backends that would rather not verify locally."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Response, jsonify
from flask_smorest import Blueprint

from ..consents import current_consent
from ..errors import ServiceError
from ..extensions import db
from .body import documents_body, load_json
from .common import get_site, require_key, services
from .schemas import (
    VISITOR_ID,
    ApiErrorSchema,
    CurrentConsentSchema,
    TokenVerifyRequestSchema,
    TokenVerifyResponseSchema,
)

blp = Blueprint("backend", __name__, url_prefix="/v1/sites",
                description="For shop backends; needs an API key with the read scope.")
_verify_request = TokenVerifyRequestSchema()


@blp.route("/<site_id>/visitors/<visitor_id>/consent", methods=["GET"])
@blp.alt_response(200, schema=CurrentConsentSchema, success=True)
@blp.alt_response(401, schema=ApiErrorSchema)
@blp.alt_response(403, schema=ApiErrorSchema)
def get_visitor_consent(site_id: str, visitor_id: str) -> Response:
    """A visitor's current choice and its status (valid, expired, outdated or none)."""
    require_key(site_id, "read")
    site = get_site(site_id)
    try:
        VISITOR_ID(visitor_id)
    except Exception:
        raise ServiceError("invalid_visitor_id", "that is not a visitor id") from None
    return jsonify(current_consent(db.session, site, visitor_id, services().consent_cache).to_dict())


@blp.route("/<site_id>/tokens/verify", methods=["POST"])
@documents_body(blp, TokenVerifyRequestSchema)
@blp.alt_response(200, schema=TokenVerifyResponseSchema, success=True)
@blp.alt_response(401, schema=ApiErrorSchema)
def verify_token(site_id: str) -> Response:
    """Verify a preference token as the guard would, for backends that cannot do it locally."""
    require_key(site_id, "read")
    site = get_site(site_id)
    token = load_json(_verify_request)["token"]
    check = services().signer(site.id).verify(token, current_policy_version=site.version)
    expires = (datetime.fromtimestamp(check.expires_at, UTC).isoformat().replace("+00:00", "Z")
               if check.expires_at else None)
    return jsonify({
        "status": check.status, "visitor_id": check.visitor_id, "policy_version": check.policy_version,
        "record_id": check.record_id, "granted": sorted(check.granted), "expires_at": expires,
    })
