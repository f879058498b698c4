"""Request and response schemas: they validate input and generate the OpenAPI document."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from ..consents.fields import METHODS
from ..decision import STATUSES


class StrictInteger(fields.Integer):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("must be a whole number")
        return super()._deserialize(value, attr, data, **kwargs)


class Text(fields.String):
    """A string of printable characters only: no control characters (a NUL cannot be stored by
    PostgreSQL, a newline forges log lines) and no lone surrogates (they cannot be encoded)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text.isprintable():
            raise ValidationError("must hold printable characters only")
        return text


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
            if not 1 <= len(name) <= 40 or not name.isprintable():
                raise ValidationError("category names are 1 to 40 printable characters")
            if not isinstance(granted, bool):
                raise ValidationError(f"{name[:40]}: must be true or false")
        return value


class ConsentRequestSchema(Schema):
    policy_version = StrictInteger(required=True, validate=validate.Range(1, 2**31 - 1))
    choices = Choices(required=True)
    method = fields.String(required=True, validate=validate.OneOf(METHODS))
    token = Text(load_default=None, allow_none=True, validate=validate.Length(1, 2048))
    language = Text(load_default=None, allow_none=True, validate=validate.Length(1, 35))
    page_url = Text(load_default=None, allow_none=True, validate=validate.Length(1, 2048))
    banner_version = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(
        r"^[A-Za-z0-9._+-]{1,32}\Z", error="1 to 32 characters of A-Z, a-z, 0-9, '.', '_', '+' or '-'"))
    client_record_id = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(
        r"^[A-Za-z0-9_-]{16,64}\Z", error="16 to 64 characters of A-Z, a-z, 0-9, '_' or '-'"))


class ConsentResponseSchema(Schema):
    record_id = fields.String()
    visitor_id = fields.String(metadata={"description": "absent on a replay to a caller without that visitor's token"})
    token = fields.String(metadata={"description": "absent on a replay to a caller without that visitor's token"})
    replayed = fields.Boolean()
    expires_at = fields.DateTime()
    policy_version = fields.Integer(metadata={"description": "the policy version of the visitor's regime"})
    choices = fields.Dict(keys=fields.String(), values=fields.Boolean())
    regime = fields.String(metadata={"description": "the consent model of the visitor's region"})
    region = fields.String(allow_none=True, metadata={"description": "ISO 3166 country or subdivision"})


class ConsentDecisionSchema(Schema):
    """A visitor's standing, as the backend API answers it (decision.py)."""

    status = fields.String(metadata={"enum": [s for s in STATUSES if s != "unavailable"]})
    visitor_id = fields.String(allow_none=True)
    granted = fields.List(fields.String(), metadata={"description": "necessary, plus the choices when valid"})
    policy_version = fields.Integer(allow_none=True)
    record_id = fields.String(allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    choices = fields.Dict(keys=fields.String(), values=fields.Boolean(), allow_none=True)
    method = fields.String(allow_none=True)
    recorded_at = fields.DateTime(allow_none=True)
    regime = fields.String(allow_none=True, metadata={"description": "the consent model it was made under"})


class TokenVerifyRequestSchema(Schema):
    token = Text(required=True, validate=validate.Length(1, 4096))


class ApiErrorSchema(Schema):
    error = fields.Dict(metadata={"example": {"code": "unknown_site", "message": "no such site"}})
