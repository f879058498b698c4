"""Strict JSON request bodies: the right content type, valid JSON, and a schema match, each with
its own stable error code."""

from __future__ import annotations

import json
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError

from ..errors import ServiceError


def load_json(schema: Schema) -> dict[str, Any]:
    if not request.is_json:
        raise ServiceError("unsupported_media_type", "send the body as application/json", status=415)
    raw = request.get_data(cache=True)  # werkzeug raises 413 past MAX_CONTENT_LENGTH
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise ServiceError("malformed_json", "the request body is not valid JSON") from None
    try:
        return schema.load(data)
    except ValidationError as error:
        raise ServiceError("invalid_body", "the request body does not match the schema",
                           status=422, details=error.messages) from None
