"""OpenAPI documentation of a route in one decorator.

flask-smorest's `alt_response` and `doc` each wrap the view in another function call; here the
whole description (parameters, body, answers, error statuses) goes into a single `doc`, so
documenting a route costs one wrapper, not one per status code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema

from .schemas import ApiErrorSchema


def documented(blp: Blueprint, responses: dict[int, tuple[type[Schema] | None, str]],
               errors: tuple[int, ...] = (), body: type[Schema] | None = None,
               parameters: list[dict[str, Any]] | None = None) -> Callable[[Any], Any]:
    """Describe a route's parameters, request body, answers and error statuses in one decorator."""
    doc: dict[str, Any] = {"responses": {
        str(status): {"description": description}
        | ({"content": {"application/json": {"schema": schema}}} if schema else {})
        for status, (schema, description) in responses.items()
    }}
    if parameters:
        doc["parameters"] = parameters
    for status in errors:
        doc["responses"][str(status)] = {"description": "Error", "content": {
            "application/json": {"schema": ApiErrorSchema}}}
    # Any route may meet a lost database: retry after Retry-After (api/errors.py).
    doc["responses"]["503"] = {
        "description": "database_unavailable: the service lost its database for a moment; send the request again",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
        "content": {"application/json": {"schema": ApiErrorSchema}}}
    if body is not None:
        doc["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return blp.doc(**doc)


def query_parameters(names: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """Optional string query parameters, described for the OpenAPI document."""
    return [{"in": "query", "name": name, "schema": {"type": "string"}, "required": False} for name in names]
