"""Public endpoints the banner calls from shop pages: its script, its configuration, the site's
public keys, the cookie declaration of a privacy page, the recording of a choice and, for browsers
without Ed25519 in WebCrypto, a token check. Only the site's own origins may record or check; both
are rate limited per desensitized IP address. Nothing served is built from the request's Host: the
service's URL is PUBLIC_URL."""

from __future__ import annotations

import json

from flask import Response, current_app, jsonify, request
from flask_smorest import Blueprint

from ..banner.bundle import not_found_script, render_banner
from ..consents.recording import Choice, RecordedChoice
from ..errors import NotFound, ServiceError
from ..extensions import db
from ..sites.cookie_declaration import cookie_declaration, declaration_fragment, pick_language
from ..times import iso
from .body import load_json
from .context import (
    client_ip_hash,
    get_site,
    json_response,
    rate_limited,
    service_url,
    services,
    visitor_region,
)
from .cors import cors, cors_for_site_origins, preflight, require_origin
from .openapi import documented, query_parameters
from .params import check_parameters
from .schemas import ConsentDecisionSchema, ConsentRequestSchema, ConsentResponseSchema, TokenVerifyRequestSchema

blp = Blueprint("banner", __name__, url_prefix="/v1/sites", description="Called by the banner on shop pages.")
_consent_request = ConsentRequestSchema()
_check_request = TokenVerifyRequestSchema()
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "POST, GET, DELETE",
    "Access-Control-Allow-Headers": "Content-Type, X-Consent-Token",
    "Access-Control-Max-Age": "600",
}


blp.after_request(cors_for_site_origins)


@blp.route("/<site_id>/consents", methods=["OPTIONS"])
@blp.route("/<site_id>/tokens/check", methods=["OPTIONS"])
@blp.doc(summary="CORS preflight: succeeds for the site's origins only")
def preflight_consents(site_id: str) -> Response:
    return preflight(site_id, PREFLIGHT_HEADERS)


@blp.route("/<site_id>/consents", methods=["POST"], provide_automatic_options=False)
@rate_limited
@documented(blp, body=ConsentRequestSchema, errors=(400, 403, 409, 413, 415, 422, 429), responses={
    201: (ConsentResponseSchema, "Recorded; the token goes in the consent cookie"),
    200: (ConsentResponseSchema, "Replay of a known client_record_id (the token only to that visitor's own token)"),
})
def post_consent(site_id: str) -> Response:
    """Record a visitor's choice and return its signed token.

    The whole write: the page's origin and the body are checked, the choice is recorded as proof
    (one statement) and cached, the token signed; once the answer has gone out, a full or overdue
    batch of records is sealed."""
    site = get_site(site_id)
    origin = require_origin(site)
    body = load_json(_consent_request)
    choice = Choice(
        **body, user_agent=(request.user_agent.string or None) and request.user_agent.string[:512],
        ip_hash=client_ip_hash(), gpc=request.headers.get("Sec-GPC", "").strip() == "1",
        region=visitor_region(),
    )
    shared = services()
    recorded = shared.record(db.session, site, choice)
    response = json_response(_recorded_body(recorded), status=200 if recorded.replayed else 201)
    if not recorded.replayed:
        _seal_when_due(response, site.id)
    return cors(response, origin)


def _recorded_body(recorded: RecordedChoice) -> dict[str, object]:
    body: dict[str, object] = {
        "record_id": recorded.record_id, "expires_at": iso(recorded.expires_at),
        "policy_version": recorded.policy_version, "choices": recorded.choices, "replayed": recorded.replayed,
        "regime": recorded.regime, "region": recorded.region,
    }
    if recorded.token is not None:  # a replay to a caller that is not that visitor carries neither
        body.update(visitor_id=recorded.visitor_id, token=recorded.token)
    return body


@blp.route("/<site_id>/tokens/check", methods=["POST"], provide_automatic_options=False)
@rate_limited
@documented(blp, body=TokenVerifyRequestSchema, errors=(400, 403, 404, 413, 415, 422, 429),
            responses={200: (ConsentDecisionSchema, "What the token says and whether it holds")})
def check_token(site_id: str) -> Response:
    """Verify a consent token for the banner in a browser without Ed25519 in WebCrypto (it asks once
    per session, before it runs anything held back). Anyone can do the same with the JWKS."""
    site = get_site(site_id)
    origin = require_origin(site)
    token = load_json(_check_request)["token"]
    verifier = services().keys(db.session, site.id, token).verifier
    claims = verifier.claims(token)  # judged by the current version of the regime it was made under
    current = site.regime_version(claims.regime) if claims is not None else site.version
    response = json_response(verifier.verify(token, current_policy_version=current).to_dict())
    response.headers["Cache-Control"] = "no-store"
    return cors(response, origin)


def _banner_config(site_id: str) -> dict[str, object]:
    """The configuration for the visitor's regime (from the trusted region headers or GeoIP file)."""
    site = get_site(site_id)
    return site.banner_config(service_url(), services().keys(db.session, site.id).public.inline(),
                              site.regime_of(visitor_region()))


def _per_region(headers: dict[str, str]) -> dict[str, str]:
    """An answer for the visitor's regime varies with the region headers the operator named; when
    the GeoIP file placed the visitor (no header, or none that gave a region) it depends on the
    address, which no Vary can name, so it is private."""
    regions = services().regions
    headers["Vary"] = ", ".join([*filter(None, [headers.get("Vary")]), *regions.vary])
    if regions.geoip_db and regions.from_headers(request.headers) is None:
        headers["Cache-Control"] = headers["Cache-Control"].replace("public", "private")
    return headers


def _seal_when_due(response: Response, site_id: str) -> None:
    """Count the new record; when a batch is full or overdue, seal it after the response is sent,
    so recording a choice never waits for sealing."""
    shared = services()
    settings = shared.settings
    if not shared.auto_sealer.note(site_id, settings.seal_batch_size, settings.seal_max_age_seconds):
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def seal_now() -> None:
        with app.app_context():
            try:
                shared.auto_sealer.run(db.session, site_id, settings.seal_batch_size, settings.seal_max_age_seconds)
            finally:
                db.session.remove()

    response.call_on_close(seal_now)


@blp.route("/<site_id>/config", methods=["GET"])
@blp.doc(summary="The site's banner configuration as JSON")
def get_config(site_id: str) -> Response:
    response = jsonify(_banner_config(site_id))
    response.headers.update(_per_region({"Cache-Control": "public, max-age=60", "Access-Control-Allow-Origin": "*"}))
    if not response.headers["Vary"]:
        del response.headers["Vary"]
    response.add_etag()
    return response.make_conditional(request)


DECLARATION_PARAMETERS = ("lang", "format")
DECLARATION_FORMATS = {"json": "application/json", "html": "text/html"}


def _declaration_format() -> str:
    """`format=json|html`, else what the Accept header prefers (JSON when it does not say)."""
    raw = request.args.get("format")
    if raw:
        if raw.lower() not in DECLARATION_FORMATS:
            raise ServiceError("unsupported_format", "format must be json or html", details={"parameter": "format"})
        return raw.lower()
    best = request.accept_mimetypes.best_match(list(DECLARATION_FORMATS.values()), default="application/json")
    return "html" if best == "text/html" else "json"


@blp.route("/<site_id>/declaration", methods=["GET"])
@documented(blp, errors=(400, 404), parameters=query_parameters(DECLARATION_PARAMETERS), responses={
    200: (None, "Every declared cookie by category, with provider, purpose and lifetime, in one of the site's "
                "languages (`lang`; the site's default when it has none that matches): JSON, or an HTML fragment "
                "with format=html or Accept: text/html"),
})
def get_declaration(site_id: str) -> Response:
    """The cookie declaration for a privacy page."""
    site = get_site(site_id)
    check_parameters(request.args, DECLARATION_PARAMETERS)
    fmt = _declaration_format()
    declaration = cookie_declaration(site, pick_language(site, request.args.get("lang")),
                                     site.regime_of(visitor_region()))
    if fmt == "html":
        response = Response(declaration_fragment(declaration), mimetype="text/html")
        response.headers["Content-Security-Policy"] = "default-src 'none'"
        response.headers["X-Content-Type-Options"] = "nosniff"
    else:
        response = jsonify(declaration)
    response.headers["Content-Language"] = declaration["language"]
    response.headers.update(_per_region({"Cache-Control": "public, max-age=60", "Vary": "Accept"}))
    response.add_etag()
    return response.make_conditional(request)


@blp.route("/<site_id>/banner.js", methods=["GET"])
@blp.doc(summary="The banner script with the site's configuration built in")
def get_banner(site_id: str) -> Response:
    try:
        config = _banner_config(site_id)
    except NotFound:
        response = Response(not_found_script(site_id), status=404, mimetype="application/javascript")
        response.headers["Cache-Control"] = "no-store"
        return response
    bundle = render_banner(config)
    headers = {
        "ETag": bundle.etag, "Vary": "Accept-Encoding",
        "Cache-Control": "public, max-age=300, stale-while-revalidate=86400",
        "Access-Control-Allow-Origin": "*", "Cross-Origin-Resource-Policy": "cross-origin",
        "X-Content-Type-Options": "nosniff",
    }
    _per_region(headers)
    if bundle.etag in request.if_none_match.as_set(include_weak=True) or \
            request.if_none_match.contains_raw(bundle.etag):
        return Response(status=304, headers=headers)
    accepted = request.accept_encodings
    body, encoding = bundle.body, None
    if accepted["br"]:
        body, encoding = bundle.br, "br"
    elif accepted["gzip"]:
        body, encoding = bundle.gzip, "gzip"
    response = Response(body, mimetype="application/javascript", headers=headers)
    if encoding:
        response.headers["Content-Encoding"] = encoding
    return response


@blp.route("/<site_id>/jwks.json", methods=["GET"])
@blp.doc(summary="The site's public token keys as a JWKS (RFC 7517; OKP/Ed25519, EdDSA)")
def get_jwks(site_id: str) -> Response:
    """Every active key of the site, including one published ahead of signing. Verify a token with
    any JOSE library: algorithm EdDSA only, audience the site id, key chosen by the token's kid."""
    site = get_site(site_id)
    document = services().keys(db.session, site.id).public.jwks()
    response = Response(json.dumps(document, separators=(",", ":"), sort_keys=True),
                        mimetype="application/jwk-set+json")
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.add_etag()
    return response.make_conditional(request)
