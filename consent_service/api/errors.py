"""Every error as JSON with a stable code: the service's own refusals, Flask's and Werkzeug's HTTP
errors, a lost database (503, retry) and anything unexpected (500, logged)."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException

from ..db import DATABASE_UNAVAILABLE
from ..errors import ServiceError

log = logging.getLogger(__name__)

#: Stable codes for errors raised by Flask/Werkzeug itself.
HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "invalid_body", 429: "rate_limited",
}


def error_response(error: ServiceError) -> Response:
    response = jsonify(error.to_dict())
    response.status_code = error.status
    return response


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    code = HTTP_CODES.get(status, "http_error")
    message = "too many requests; slow down" if status == 429 else (error.description or error.name)
    return error_response(ServiceError(code, message, status=status))


def database_unavailable_response() -> Response:
    response = error_response(ServiceError("database_unavailable", "the service cannot reach its database; "
                                           "try again shortly", status=503))
    response.headers["Retry-After"] = "5"
    return response


def _database_unavailable(error: Exception) -> Response:
    """The database dropped or refused a connection: a retryable outage, not the caller's fault.
    The banner keeps the choice in its queue and sends it again. Logged once per outage (its start
    and its end), not once per request."""
    current_app.extensions["consent"].database_outage.failed(error, "answering 503 database_unavailable")
    return database_unavailable_response()


def _unexpected(error: Exception) -> Response:
    log.exception("unhandled error")
    return error_response(ServiceError("internal_error", "something went wrong on our side", status=500))


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ServiceError, error_response)
    app.register_error_handler(HTTPException, _http_error)
    for error in DATABASE_UNAVAILABLE:
        app.register_error_handler(error, _database_unavailable)
    app.register_error_handler(Exception, _unexpected)
