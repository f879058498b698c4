"""Endpoints for privacy officers and auditors: the streamed export of consent records (export
scope), verification of the seal chain (export scope) and consent statistics (read scope). Every
export and verification is written to the access log.

This blueprint also seals new records automatically: after a choice is recorded, a cheap
in-process check decides whether to look for a full or overdue batch, and the sealing runs once
the response has been sent."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Response, current_app, jsonify, request, stream_with_context
from flask_smorest import Blueprint

from ..access_log import actor_for_key, log_access, log_access_apart
from ..exports import (
    ExportFilters,
    ExportSummary,
    check_parameters,
    parse_format,
    parse_time,
    stream_export,
)
from ..extensions import db
from ..seals import auto_sealer, snapshot_connection, verify
from ..stats import consent_stats
from .common import get_site, require_key, services
from .openapi import documented, query_parameters

blp = Blueprint("compliance", __name__, url_prefix="/v1/sites",
                description="For privacy officers and auditors: exports, proof verification, statistics.")

EXPORT_PARAMETERS = ("since", "until", "method", "visitor_id", "policy_version", "format")
MIMETYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


def streamed(body: Iterator[bytes], fmt: str, filename: str) -> Response:
    response = Response(stream_with_context(body), mimetype=MIMETYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response


@blp.route("/<site_id>/exports/consents", methods=["GET"])
@documented(blp, errors=(400, 401, 403), parameters=query_parameters(EXPORT_PARAMETERS), responses={
    200: (None, "NDJSON (one record per line, then a summary line) or CSV (header, records, then a '#summary' row)"),
})
def export_consents(site_id: str) -> Response:
    """Every consent record matching the filters, streamed, with personal fields decrypted."""
    caller = require_key(site_id, "export")
    site = get_site(site_id)
    check_parameters(request.args, EXPORT_PARAMETERS)
    filters = ExportFilters.parse(request.args)
    fmt = parse_format(request.args.get("format"))
    engine = db.engine
    summary = ExportSummary(site_id=site.id, format=fmt, filters=filters)

    def generate() -> Iterator[bytes]:
        try:
            with snapshot_connection(engine) as connection, connection.begin():
                yield from stream_export(connection, site.id, filters, fmt, summary)
        finally:
            log_access_apart(engine, site_id=site.id, actor=actor_for_key(caller.key_id),
                             action="export", rows=summary.count, details={
                                 "filters": filters.to_dict(), "format": fmt, "complete": summary.complete,
                                 "first_record_id": summary.first_record_id,
                                 "last_record_id": summary.last_record_id,
                                 "seal_id": summary.seal.id if summary.seal else None})

    return streamed(generate(), fmt, f"consents-{site.id}")


@blp.route("/<site_id>/proof/verify", methods=["GET"])
@documented(blp, errors=(401, 403),
            responses={200: (None, "ok, or the first record or seal that does not match and why")})
def verify_proof(site_id: str) -> Response:
    """Check every seal and record of the site."""
    caller = require_key(site_id, "export")
    site = get_site(site_id)
    check_parameters(request.args, ())
    report = verify(db.session, site.id)
    log_access(db.session, site_id=site.id, actor=actor_for_key(caller.key_id), action="proof.verify",
               rows=report.sealed_records + report.unsealed_records,
               details={"ok": report.ok, "problem": report.problem.to_dict() if report.problem else None})
    return jsonify(report.to_dict())


@blp.route("/<site_id>/stats", methods=["GET"])
@documented(blp, errors=(400, 401, 403), parameters=query_parameters(("since", "until", "interval")),
            responses={
    200: (None, "Per interval: choices by method and opt-in rate per category"),
})
def get_stats(site_id: str) -> Response:
    """Consent statistics per day or week."""
    require_key(site_id, "read")
    site = get_site(site_id)
    check_parameters(request.args, ("since", "until", "interval"))
    since, until = parse_time("since", request.args.get("since")), parse_time("until", request.args.get("until"))
    with db.engine.connect() as connection:
        body = consent_stats(connection, site.id, since, until, request.args.get("interval") or "day")
    return jsonify(body)


@blp.after_app_request
def _seal_after_new_records(response: Response) -> Response:
    """After a recorded choice, maybe seal — once the response has gone out."""
    if request.endpoint != "banner.post_consent" or response.status_code != 201:
        return response
    site_id = (request.view_args or {}).get("site_id")
    settings = services().settings
    if not site_id or not auto_sealer.note(site_id, settings.seal_batch_size, settings.seal_max_age_seconds):
        return response
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def seal_now() -> None:
        with app.app_context():
            try:
                auto_sealer.run(db.session, site_id, settings.seal_batch_size, settings.seal_max_age_seconds)
            finally:
                db.session.remove()

    response.call_on_close(seal_now)
    return response
