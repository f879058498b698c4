"""OpenAPI documentation for hot routes in one decorator.

flask-smorest's `alt_response` and `doc` each wrap the view in another function call; on the
busiest routes the whole description goes into a single `doc` instead, so documenting a route
costs one wrapper, not one per status code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema

from .schemas import ApiErrorSchema


def documented(blp: Blueprint, responses: dict[int, tuple[type[Schema], str]],
               errors: tuple[int, ...] = (), body: type[Schema] | None = None) -> Callable[[Any], Any]:
    """Describe a route's request body, answers and error statuses in one decorator."""
    doc: dict[str, Any] = {"responses": {
        str(status): {"description": description, "content": {"application/json": {"schema": schema}}}
        for status, (schema, description) in responses.items()
    }}
    for status in errors:
        doc["responses"][str(status)] = {"description": "Error", "content": {
            "application/json": {"schema": ApiErrorSchema}}}
    if body is not None:
        doc["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return blp.doc(**doc)
