"""The streamed export: NDJSON and CSV, filters, every proof field with personal fields decrypted,
digests an auditor can recompute, a closing summary with the covering seal, and the access log."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from consent_service.cli import main
from consent_service.consents import record_crypto
from consent_service.consents.fields import EXPORT_COLUMNS as COLUMNS
from consent_service.extensions import db
from consent_service.models import AccessLogEntry, VisitorKey
from tests.support.compliance import ALL, NONE, bearer, make_records, post, seal_all

URL = "/v1/sites/demo/exports/consents"


def ndjson(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    return lines[:-1], lines[-1]["summary"]


def parse_csv(text):
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(COLUMNS)
    assert rows[-1][0] == "#summary"
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:-1]], json.loads(rows[-1][1])["summary"]


@pytest.fixture
def records(app, demo):
    start = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    made = make_records(app, 4, start=start, step=timedelta(days=1))
    made += make_records(app, 2, start=start + timedelta(days=10), choices=ALL, method="accept_all")
    made += make_records(app, 1, start=start + timedelta(days=11), choices=NONE, method="reject_all",
                         page_url=None, user_agent='"quoted", =SUM(A1) \u00e9\u4e2d\n')
    return made


def test_ndjson_export_has_every_proof_field_decrypted(app, client, records):
    rows, summary = ndjson(client.get(URL, headers=bearer(app, "export")))
    assert [row["id"] for row in rows] == [r.record_id for r in records]
    assert list(rows[0]) == list(COLUMNS)
    first = rows[0]
    assert first["page_url"] == "http://127.0.0.1:8000/products" and first["user_agent"] == "UA/1.0"
    assert first["personal_data"] == "present" and first["choices"]["analytics"] is True
    assert first["created_at"] == "2025-03-01T12:00:00.000000Z" and first["gpc"] is False
    assert rows[-1]["user_agent"] == '"quoted", =SUM(A1) \u00e9\u4e2d\n' and rows[-1]["page_url"] is None
    # An auditor can recompute each record's digest from the exported fields alone.
    for row in rows:
        assert record_crypto.record_digest(row) == row["digest"]
    assert summary["count"] == 7 and summary["first_record_id"] == rows[0]["id"]
    assert summary["last_record_id"] == rows[-1]["id"] and summary["seal"] is None
    assert summary["unsealed"] == 7 and summary["filters"]["method"] is None


def test_summary_names_the_covering_seal(app, client, records):
    seal_all(app, batch_size=4)
    rows, summary = ndjson(client.get(URL, headers=bearer(app, "export")))
    seal_ids = [row["seal_id"] for row in rows]
    assert seal_ids[0] == seal_ids[3] != seal_ids[4] == seal_ids[6] and None not in seal_ids
    assert summary["seal"]["id"] == seal_ids[-1] and summary["seal"]["last_record_id"] == rows[-1]["id"]
    assert summary["sealed"] == 7 and summary["unsealed"] == 0 and len(summary["seal"]["digest"]) == 64
    assert summary["seal"]["created_at"].endswith("Z")  # when the seal was made, never null
    rows, summary = ndjson(client.get(URL + "?until=2025-03-03", headers=bearer(app, "export")))
    assert len(rows) == 2 and summary["seal"]["id"] == seal_ids[0]
    rows, summary = ndjson(client.get(URL + "?since=2025-03-10", headers=bearer(app, "export")))
    assert [row["seal_id"] for row in rows] == seal_ids[4:] and summary["head"]["id"] == seal_ids[-1]
    verifier = app.extensions["consent"].seal_signer.verifier
    assert summary["seal_key_ids"] == list(verifier.keys) and summary["seal_keys"] == verifier.jwks()
    # The summary's keys alone check the seals: the same verifier, rebuilt from the export.
    from consent_service.compliance.seal_keys import SealVerifier
    assert SealVerifier.from_jwks(summary["seal_keys"]).keys.keys() == verifier.keys.keys()


def test_csv_export(app, client, records):
    response = client.get(URL + "?format=csv", headers=bearer(app, "export"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"  # charset once
    assert "attachment" in response.headers["Content-Disposition"]
    rows, summary = parse_csv(response.get_data(as_text=True))
    assert len(rows) == summary["count"] == 7
    assert rows[0]["page_url"] == "http://127.0.0.1:8000/products"
    assert json.loads(rows[0]["choices"])["analytics"] is True
    # Formula-looking text from visitors is defused for spreadsheets; quotes and newlines survive.
    assert rows[-1]["user_agent"] == '"quoted", =SUM(A1) \u00e9\u4e2d\n'
    assert rows[-1]["personal_data"] == "present"


def test_filters(app, client, records):
    headers = bearer(app, "export")
    rows, _ = ndjson(client.get(URL + "?since=2025-03-02&until=2025-03-04T00:00:00Z", headers=headers))
    assert [row["created_at"][:10] for row in rows] == ["2025-03-02", "2025-03-03"]
    rows, _ = ndjson(client.get(URL + "?since=2025-03-02T13:00:00%2B01:00", headers=headers))
    assert len(rows) == 6  # 12:00Z on the 2nd is included
    rows, _ = ndjson(client.get(URL + "?method=accept_all", headers=headers))
    assert len(rows) == 2 and {row["method"] for row in rows} == {"accept_all"}
    visitor = records[0].visitor_id
    rows, summary = ndjson(client.get(URL + f"?visitor_id={visitor}", headers=headers))
    assert [row["visitor_id"] for row in rows] == [visitor] and summary["filters"]["visitor_id"] == visitor
    rows, _ = ndjson(client.get(URL + "?policy_version=1", headers=headers))
    assert len(rows) == 7
    rows, summary = ndjson(client.get(URL + "?policy_version=2", headers=headers))
    assert rows == [] and summary["count"] == 0 and summary["first_record_id"] is None


@pytest.mark.parametrize("query, code", [
    ("since=yesterday", "invalid_filter"), ("since=2025-13-01", "invalid_filter"),
    ("until=2025-01-01T25:00", "invalid_filter"), ("since=" + "9" * 500, "invalid_filter"),
    ("since=2025-02-01&until=2025-01-01", "invalid_range"), ("method=delete", "invalid_filter"),
    ("method=%00", "invalid_filter"), ("visitor_id=%27%3B%20DROP%20TABLE%20consent_records", "invalid_filter"),
    ("visitor_id=01jaaaaaaaaaaaaaaaaaaaaaaa", "invalid_filter"), ("policy_version=-1", "invalid_filter"),
    ("policy_version=1e3", "invalid_filter"), ("policy_version=99999999999999999999", "invalid_filter"),
    ("policy_version=%D9%A3", "invalid_filter"), ("format=xml", "unsupported_format"),
    ("since=0001-01-01", "invalid_filter"), ("since=%00", "invalid_filter"),
    ("since=0001-01-01T00:00:00%2B01:00", "invalid_filter"), ("until=9999-12-31T23:59:59-01:00", "invalid_filter"),
    ("limit=10", "unknown_parameter"),
])
def test_bad_filters_are_4xx_json(app, client, records, query, code):
    response = client.get(f"{URL}?{query}", headers=bearer(app, "export"))
    assert 400 <= response.status_code < 500
    assert response.get_json()["error"]["code"] == code
    assert client.get(URL, headers=bearer(app, "export")).status_code == 200


def test_keys_and_scopes(app, client, records):
    assert client.get(URL).status_code == 401
    assert client.get(URL, headers=bearer(app, "read")).status_code == 403
    assert client.get(URL, headers=bearer(app, "admin")).status_code == 200
    assert client.get("/v1/sites/other/exports/consents", headers=bearer(app, "export")).status_code == 403


def test_erased_visitor_exports_without_personal_fields(app, client, records):
    with app.app_context():
        db.session.query(VisitorKey).filter_by(visitor_id=records[0].visitor_id).delete()
        db.session.commit()
    rows, summary = ndjson(client.get(URL, headers=bearer(app, "export")))
    assert rows[0]["personal_data"] == "erased" and rows[0]["page_url"] is None
    assert rows[0]["user_agent"] is None and rows[0]["page_url_digest"] is not None
    assert rows[1]["page_url"] == "http://127.0.0.1:8000/products"
    assert summary["personal_data_erased"] == 1


def test_posted_consents_export(app, client, demo, consent_body):
    made = post(client, consent_body)
    rows, _ = ndjson(client.get(URL, headers=bearer(app, "export")))
    assert rows[0]["id"] == made["record_id"] and rows[0]["page_url"] == "http://127.0.0.1:8000/products"
    assert rows[0]["user_agent"] == "Mozilla/5.0 test" and len(rows[0]["ip_hash"]) == 64


def test_export_is_access_logged(app, client, records):
    headers = bearer(app, "export")
    ndjson(client.get(URL + "?method=custom&format=ndjson", headers=headers))
    response = client.get(URL + "?format=csv", headers=headers)
    response.get_data()
    client.get(URL + "?method=nope", headers=headers)
    with app.app_context():
        entries = db.session.query(AccessLogEntry).filter_by(action="export").order_by(AccessLogEntry.id).all()
        assert [(e.rows, e.details["format"], e.details["filters"]["method"]) for e in entries] == [
            (4, "ndjson", "custom"), (7, "csv", None)]
        assert entries[0].actor.startswith("key:") and entries[0].details["complete"] is True


def test_abandoned_export_is_logged_with_rows_sent(app, client, records, monkeypatch):
    """A chunk counts as sent once the server asks for the next one (it has written this one); the
    chunk it was writing when the reader went away does not."""
    from consent_service.compliance import export

    monkeypatch.setattr(export, "PARTITION_ROWS", 3)
    response = client.get(URL, headers=bearer(app, "export"), buffered=False)
    chunks = iter(response.response)
    assert len(next(chunks).splitlines()) == 3
    assert len(next(chunks).splitlines()) == 3  # ... and writing this one failed
    response.close()
    with app.app_context():
        entry = db.session.query(AccessLogEntry).filter_by(action="export").one()
        assert entry.details["complete"] is False and entry.rows == 3


def test_cli_export(app, records):
    runner = app.test_cli_runner()
    result = runner.invoke(main, ["export", "--site", "demo", "--since", "2025-03-05", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows, summary = parse_csv(result.stdout)
    assert len(rows) == 3 and summary["format"] == "csv"
    result = runner.invoke(main, ["export", "--site", "demo"])
    assert len(result.stdout.splitlines()) == 8
    assert runner.invoke(main, ["export", "--site", "demo", "--since", "nope"]).exit_code != 0
    assert runner.invoke(main, ["export", "--site", "demo", "--format", "xml"]).exit_code != 0
    assert runner.invoke(main, ["export", "--site", "nope"]).exit_code != 0
    with app.app_context():
        assert db.session.query(AccessLogEntry).filter_by(action="export").count() == 2


def test_large_export_streams_in_partitions(app, client, demo):
    make_records(app, 4500, step=timedelta(seconds=1))
    seal_all(app)
    response = client.get(URL, headers=bearer(app, "export"), buffered=False)
    chunks = list(response.response)
    assert len(chunks) >= 3
    rows = b"".join(chunks).decode().splitlines()
    assert len(rows) == 4501 and json.loads(rows[-1])["summary"]["count"] == 4500


def test_a_formula_and_a_quoted_formula_export_apart(app, client, demo):
    """`=x` is written `'=x` and `'=x` is written `''=x`: a reader strips exactly one leading `'` from
    a text field that has one, and gets each back (docs/compliance.md)."""
    make_records(app, 1, user_agent="=x")
    make_records(app, 1, user_agent="'=x")
    rows, _ = parse_csv(client.get(URL + "?format=csv", headers=bearer(app, "export")).get_data(as_text=True))
    written = [row["user_agent"] for row in rows]
    assert written == ["'=x", "''=x"]
    assert [value[1:] if value.startswith("'") else value for value in written] == ["=x", "'=x"]
    rows, _ = ndjson(client.get(URL, headers=bearer(app, "export")))
    assert [row["user_agent"] for row in rows] == ["=x", "'=x"]  # NDJSON is verbatim
