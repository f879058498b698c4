"""Endpoints for privacy officers and auditors: the streamed export of consent records (export
scope), verification of the seal chain (export scope), the seal keys' public halves (public) and
consent statistics (read scope). The export and the verification write their own access-log
entries."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask import Response, jsonify, request, stream_with_context
from flask_smorest import Blueprint

from ..compliance.access_log import actor_for_key
from ..compliance.export import export_consents
from ..compliance.filters import ExportFilters, parse_format, parse_range
from ..compliance.stats import consent_stats
from ..compliance.tabular import MIMETYPES
from ..compliance.verify import verify
from ..errors import ServiceError
from ..extensions import db
from .context import get_site, require_key, services
from .openapi import documented, query_parameters
from .params import check_parameters

blp = Blueprint("compliance", __name__, url_prefix="/v1/sites",
                description="For privacy officers and auditors: exports, proof verification, statistics.")

HEAD = re.compile(r"^[0-9a-f]{64}$")
EXPORT_PARAMETERS = ("since", "until", "method", "visitor_id", "policy_version", "format")
STATS_PARAMETERS = ("since", "until", "interval")


def _started(body: Iterator[bytes]) -> Iterator[bytes]:
    """Run a download up to its first chunk now, inside the view: a database that cannot be
    reached is then a 503 (api/errors.py), not a 200 whose body stops short."""
    first = next(body, None)

    def chunks() -> Iterator[bytes]:
        if first is not None:
            yield first
        yield from body  # closing this closes body, which logs the access

    return chunks()


def streamed(body: Iterator[bytes], fmt: str, filename: str) -> Response:
    """A download streamed as it is produced, never cached or buffered by a proxy."""
    response = Response(stream_with_context(_started(body)), content_type=MIMETYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response


@blp.route("/<site_id>/exports/consents", methods=["GET"])
@documented(blp, errors=(400, 401, 403), parameters=query_parameters(EXPORT_PARAMETERS), responses={
    200: (None, "NDJSON (one record per line, then a summary line) or CSV (header, records, then a '#summary' row)"),
})
def export_records(site_id: str) -> Response:
    """Every consent record matching the filters, streamed, with personal fields decrypted."""
    caller = require_key(site_id, "export")
    site = get_site(site_id)
    check_parameters(request.args, EXPORT_PARAMETERS)
    filters = ExportFilters.parse(request.args)
    fmt = parse_format(request.args.get("format"))
    shared = services()
    body = export_consents(db.engine, site.id, filters, fmt, actor=actor_for_key(caller.key_id),
                           keyring=shared.keyring, seal_keys=shared.seal_signer.verifier.jwks())
    return streamed(body, fmt, f"consents-{site.id}")


@blp.route("/<site_id>/proof/verify", methods=["GET"])
@documented(blp, errors=(400, 401, 403), parameters=query_parameters(("expect_head",)),
            responses={200: (None, "ok, or the first record or seal that does not match and why")})
def verify_proof(site_id: str) -> Response:
    """Check every policy text, seal and record of the site; with `expect_head`, also that the
    chain still reaches the seal digest an auditor kept."""
    caller = require_key(site_id, "export")
    site = get_site(site_id)
    check_parameters(request.args, ("expect_head",))
    expect_head = request.args.get("expect_head")
    if expect_head is not None and not HEAD.match(expect_head):
        raise ServiceError("invalid_head", "expect_head must be a seal digest: 64 lowercase hexadecimal digits",
                           details={"parameter": "expect_head"})
    report = verify(db.session, site.id, services().seal_signer.verifier, actor=actor_for_key(caller.key_id),
                    expect_head=expect_head)
    return jsonify(report.to_dict())


@blp.route("/<site_id>/proof/keys", methods=["GET"])
@documented(blp, errors=(404,), responses={200: (None, "The seal keys' public halves as a JWKS (RFC 7517)")})
def seal_keys(site_id: str) -> Response:
    """The public keys that verify seals, purge markers and receipts: anyone may fetch them."""
    get_site(site_id)
    check_parameters(request.args, ())
    response = jsonify(services().seal_signer.verifier.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@blp.route("/<site_id>/stats", methods=["GET"])
@documented(blp, errors=(400, 401, 403), parameters=query_parameters(STATS_PARAMETERS), responses={
    200: (None, "Per interval: choices by method and opt-in rate per category"),
})
def get_stats(site_id: str) -> Response:
    """Consent statistics per day or week."""
    require_key(site_id, "read")
    site = get_site(site_id)
    check_parameters(request.args, STATS_PARAMETERS)
    since, until = parse_range(request.args)
    with db.engine.connect() as connection:
        body = consent_stats(connection, site.id, since, until, request.args.get("interval") or "day")
    return jsonify(body)
