"""Errors that every layer raises and the HTTP layer renders as `{"error": {"code", "message"}}`.

Codes are stable: clients and tests match on them, never on messages."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A refusal with a stable code and the HTTP status it maps to."""

    status = 400

    def __init__(self, code: str, message: str, status: int | None = None,
                 details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        if status is not None:
            self.status = status
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Unauthorized(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403
