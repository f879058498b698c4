"""Request and response schemas: they validate input and generate the OpenAPI document."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from ..consents import METHODS

VISITOR_ID = validate.Regexp(r"^[0-9A-HJKMNP-TV-Z]{26}$", error="not a visitor id")


class StrictInteger(fields.Integer):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("must be a whole number")
        return super()._deserialize(value, attr, data, **kwargs)


class Choices(fields.Dict):
    """Category name to true/false, checked in one pass: the busiest request's biggest field, where
    a key and a value field per category cost more than the rest of the body. Documented as a Dict
    of booleans."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(keys=fields.String(), values=fields.Boolean(), **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict[str, bool]:
        if not isinstance(value, dict):
            raise ValidationError("must be an object of category names to true or false")
        if not 1 <= len(value) <= 40:
            raise ValidationError("must hold 1 to 40 categories")
        for name, granted in value.items():
            if not 1 <= len(name) <= 40:
                raise ValidationError("category names are 1 to 40 characters long")
            if not isinstance(granted, bool):
                raise ValidationError(f"{name[:40]}: must be true or false")
        return value


class ConsentRequestSchema(Schema):
    policy_version = StrictInteger(required=True, validate=validate.Range(1, 2**31 - 1))
    choices = Choices(required=True)
    method = fields.String(required=True, validate=validate.OneOf(METHODS))
    token = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 2048))
    language = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 35))
    page_url = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 2048))
    banner_version = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 32))
    client_record_id = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(
        r"^[A-Za-z0-9_-]{16,64}$", error="16 to 64 characters of A-Z, a-z, 0-9, '_' or '-'"))


class ConsentResponseSchema(Schema):
    record_id = fields.String()
    visitor_id = fields.String()
    token = fields.String()
    expires_at = fields.DateTime()
    policy_version = fields.Integer()
    choices = fields.Dict(keys=fields.String(), values=fields.Boolean())


class CurrentConsentSchema(Schema):
    visitor_id = fields.String()
    status = fields.String(metadata={"enum": ["valid", "expired", "outdated", "none"]})
    record_id = fields.String()
    policy_version = fields.Integer()
    choices = fields.Dict(keys=fields.String(), values=fields.Boolean())
    granted = fields.List(fields.String())
    method = fields.String()
    recorded_at = fields.DateTime()
    expires_at = fields.DateTime()


class TokenVerifyRequestSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(1, 4096))


class TokenVerifyResponseSchema(Schema):
    status = fields.String(metadata={"enum": ["valid", "expired", "outdated", "invalid"]})
    visitor_id = fields.String(allow_none=True)
    policy_version = fields.Integer(allow_none=True)
    record_id = fields.String(allow_none=True)
    granted = fields.List(fields.String())
    expires_at = fields.DateTime(allow_none=True)


class ApiErrorSchema(Schema):
    error = fields.Dict(metadata={"example": {"code": "unknown_site", "message": "no such site"}})
