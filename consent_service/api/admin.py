"""Endpoints for a site's administrators (admin scope): the access log, exported as NDJSON or CSV.

The access log is append-only from the API: nothing here changes or deletes an entry, and the
download itself is logged."""

from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint

from ..compliance.access_log import actor_for_key, export_access_log
from ..compliance.filters import parse_format, parse_range
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
