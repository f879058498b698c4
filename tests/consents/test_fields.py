"""consents/fields.py is the one description of a record's fields: the table, the digest, the
verification, the export and the visitor's history all agree with it."""

from __future__ import annotations

from consent_service.compliance import verify
from consent_service.compliance.export import COLUMNS
from consent_service.consents import fields
from consent_service.models import ConsentRecord


def test_the_table_has_exactly_the_described_fields_in_order():
    assert tuple(column.name for column in ConsentRecord.__table__.columns) == fields.FIELD_NAMES


def test_everything_else_is_derived_from_the_description():
    assert [name for name, _ in COLUMNS] == list(fields.EXPORT_COLUMNS)
    assert [column.name for column in verify._RECORD_COLUMNS] == [*fields.DIGEST_FIELDS, "digest", "seq",
                                                                   *fields.PERSONAL_FIELDS]
    # What the database assigns is neither bound by the writer nor in the digest (it comes after
    # the digest); the seal's leaf commits to the sequence.
    assert set(fields.FIELD_NAMES) - set(fields.WRITTEN_FIELDS) == {"seq", "stored_at"}
    assert not {"seq", "stored_at"} & set(fields.DIGEST_FIELDS)
    for name in fields.PERSONAL_FIELDS:
        assert name not in fields.DIGEST_FIELDS and f"{name}_digest" in fields.DIGEST_FIELDS
    assert "digest" not in fields.DIGEST_FIELDS
    assert set(fields.HISTORY_FIELDS) <= set(fields.FIELD_NAMES)
    assert not {"ip_hash", "visitor_id", "client_record_id"} & set(fields.HISTORY_FIELDS)
