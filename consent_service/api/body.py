"""Strict JSON request bodies: the right content type, valid JSON, and a schema match, each with
its own stable error code."""

from __future__ import annotations

import json
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError

from ..errors import ServiceError


def _body() -> bytes:
    """The request body, or a 413 past MAX_CONTENT_LENGTH. Werkzeug answers 413 for a declared
    Content-Length over the limit, but cuts a chunked body at the limit without a word (which then
    reads as malformed JSON): a chunked body is read one byte past the limit to tell."""
    limit = request.max_content_length
    if request.content_length is not None or limit is None or not request.environ.get("wsgi.input_terminated"):
        return request.get_data(cache=True)
    raw = request.environ["wsgi.input"].read(limit + 1)
    if len(raw) > limit:
        raise ServiceError("payload_too_large", f"the request body is larger than {limit} bytes", status=413)
    return raw


def load_json(schema: Schema) -> dict[str, Any]:
    if not request.is_json:
        raise ServiceError("unsupported_media_type", "send the body as application/json", status=415)
    raw = _body()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise ServiceError("malformed_json", "the request body is not valid JSON") from None
    try:
        return schema.load(data)
    except ValidationError as error:
        raise ServiceError("invalid_body", "the request body does not match the schema",
                           status=422, details=error.messages) from None
