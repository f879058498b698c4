"""Endpoints for a site's administrators (admin scope): the access log, exported as NDJSON or CSV,
and the history of cookie scans.

The access log is append-only from the API: nothing here changes or deletes an entry, and the
download itself is logged, as is every read of the scan history."""

from __future__ import annotations

from flask import Response, jsonify, request, url_for
from flask_smorest import Blueprint

from ..compliance.access_log import actor_for_key, export_access_log
from ..compliance.filters import parse_format, parse_range
from ..compliance.scans import get_scan, html_report, parse_history_args, scan_detail, scan_history, scan_summary
from ..errors import ServiceError
from ..extensions import db
from .compliance import streamed
from .context import get_site, require_key
from .openapi import documented, query_parameters
from .params import check_parameters

blp = Blueprint("admin", __name__, url_prefix="/v1/sites", description="For site administrators (admin scope).")

ACCESS_LOG_PARAMETERS = ("since", "until", "action", "format")


@blp.route("/<site_id>/access-log", methods=["GET"])
@documented(blp, errors=(400, 401, 403), parameters=query_parameters(ACCESS_LOG_PARAMETERS),
            responses={200: (None, "NDJSON or CSV, oldest entry first")})
def get_access_log(site_id: str) -> Response:
    """Who exported, verified, purged, erased or changed keys, and when."""
    caller = require_key(site_id, "admin")
    site = get_site(site_id)
    check_parameters(request.args, ACCESS_LOG_PARAMETERS)
    since, until = parse_range(request.args)
    action = request.args.get("action") or None
    if action is not None and (len(action) > 40 or not action.replace(".", "").replace("_", "").isalnum()
                               or not action.isascii()):
        raise ServiceError("invalid_filter", "action is not an access-log action", details={"parameter": "action"})
    fmt = parse_format(request.args.get("format"))
    body = export_access_log(db.engine, site.id, fmt, actor=actor_for_key(caller.key_id), since=since,
                             until=until, action=action)
    return streamed(body, fmt, f"access-log-{site.id}")


SCAN_LIST_PARAMETERS = ("limit", "before")
SCAN_FORMATS = ("json", "html")
#: The stored HTML report is self-contained (inline styles, screenshots as data URLs, no script);
#: served from the service's origin it may load nothing and run nothing.
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"


@blp.route("/<site_id>/scans", methods=["GET"])
@documented(blp, errors=(400, 401, 403, 404), parameters=query_parameters(SCAN_LIST_PARAMETERS), responses={
    200: (None, "The site's scans, newest first: counts, exit code, who ran it, what changed since the one "
                "before; `next` continues the list"),
})
def list_scans(site_id: str) -> Response:
    """The site's cookie-scan history, a page at a time."""
    caller = require_key(site_id, "admin")
    site = get_site(site_id)
    check_parameters(request.args, SCAN_LIST_PARAMETERS)
    limit, before = parse_history_args(request.args)
    page = scan_history(db.session, site.id, actor=actor_for_key(caller.key_id), limit=limit, before=before)
    body = {"scans": [scan_summary(scan) for scan in page.scans], "next_before": page.next_before,
            "next": url_for("admin.list_scans", site_id=site.id, before=page.next_before, limit=limit)
            if page.next_before else None}
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/<site_id>/scans/<scan_id>", methods=["GET"])
@documented(blp, errors=(400, 401, 403, 404), parameters=query_parameters(("format",)), responses={
    200: (None, "One scan: its counts, what changed since the previous scan (`diff`) and the JSON report "
                "(`report`); with format=html, the HTML report"),
})
def get_scan_report(site_id: str, scan_id: str) -> Response:
    """One scan in full, as JSON or as its HTML report."""
    caller = require_key(site_id, "admin")
    site = get_site(site_id)
    check_parameters(request.args, ("format",))
    fmt = (request.args.get("format") or "json").lower()
    if fmt not in SCAN_FORMATS:
        raise ServiceError("unsupported_format", "format must be json or html", details={"parameter": "format"})
    scan = get_scan(db.session, site.id, scan_id, actor=actor_for_key(caller.key_id), html=fmt == "html")
    if fmt == "html":
        response = Response(html_report(scan), mimetype="text/html")
        response.headers["Content-Security-Policy"] = REPORT_CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
    else:
        response = jsonify(scan_detail(scan))
    response.headers["Cache-Control"] = "no-store"
    return response
