"""Endpoints for a site's administrators (admin scope): the access log, exported as NDJSON or CSV.

The access log is append-only from the API: nothing here changes or deletes an entry, and the
export itself is logged."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from flask import Response, request
from flask_smorest import Blueprint

from ..access_log import ACCESS_LOG_COLUMNS, actor_for_key, iter_access_log, log_access_apart
from ..errors import ServiceError
from ..exports import check_parameters, check_range, iso, parse_format, parse_time
from ..extensions import db
from .common import get_site, require_key
from .compliance import streamed
from .openapi import documented, query_parameters

blp = Blueprint("admin", __name__, url_prefix="/v1/sites", description="For site administrators (admin scope).")

ACCESS_LOG_PARAMETERS = ("since", "until", "action", "format")


def _entry(entry: dict[str, Any]) -> dict[str, Any]:
    return {**entry, "created_at": iso(entry["created_at"])}


@blp.route("/<site_id>/access-log", methods=["GET"])
@documented(blp, errors=(400, 401, 403), parameters=query_parameters(ACCESS_LOG_PARAMETERS),
            responses={200: (None, "NDJSON or CSV, oldest entry first")})
def export_access_log(site_id: str) -> Response:
    """Who exported, verified, purged, erased or changed keys, and when."""
    caller = require_key(site_id, "admin")
    site = get_site(site_id)
    check_parameters(request.args, ACCESS_LOG_PARAMETERS)
    since, until = parse_time("since", request.args.get("since")), parse_time("until", request.args.get("until"))
    check_range(since, until)
    action = request.args.get("action") or None
    if action is not None and (len(action) > 40 or not action.replace(".", "").replace("_", "").isalnum()
                               or not action.isascii()):
        raise ServiceError("invalid_filter", "action is not an access-log action", details={"parameter": "action"})
    fmt = parse_format(request.args.get("format"))
    engine = db.engine
    count = 0

    def generate() -> Iterator[bytes]:
        nonlocal count
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if fmt == "csv":
            writer.writerow(ACCESS_LOG_COLUMNS)
        try:
            with engine.connect() as connection:
                lines: list[str] = []
                for entry in iter_access_log(connection, site.id, since, until, action):
                    entry = _entry(entry)
                    count += 1
                    if fmt == "csv":
                        writer.writerow([json.dumps(entry["details"], sort_keys=True) if name == "details"
                                         else entry[name] for name in ACCESS_LOG_COLUMNS])
                    else:
                        lines.append(json.dumps(entry, separators=(",", ":"), sort_keys=False) + "\n")
                    if count % 1000 == 0:
                        yield ("".join(lines) + buffer.getvalue()).encode()
                        lines.clear()
                        buffer.seek(0)
                        buffer.truncate()
                yield ("".join(lines) + buffer.getvalue()).encode()
        finally:
            log_access_apart(engine, site_id=site.id, actor=actor_for_key(caller.key_id),
                             action="access_log.export", rows=count,
                             details={"filters": {"since": iso(since), "until": iso(until), "action": action},
                                      "format": fmt})

    return streamed(generate(), fmt, f"access-log-{site.id}")
