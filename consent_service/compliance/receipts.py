"""Receipts: what a visitor can keep to prove, on their own and years later, what they chose.

A receipt for one record holds
- `consent`: the record's proof fields in the shape of ISO/IEC TS 27560 (consent record
  information structure): record and principal ids, the notice (version, hash, language), each
  purpose given or refused, the method, time, expiry, jurisdiction and how to withdraw. It is
  derived from `record` only, so a checker recomputes it;
- `record`: the fields the record digest covers (consents/fields.py), as stored;
- `leaf`: what the seal's Merkle leaf commits to (sequence, id, record digest, SHA-256 of each
  personal-field ciphertext);
- `inclusion`: the leaf's RFC 6962 audit path in its seal's tree (a few hashes);
- `seal`: the signed seal statement, its digest and its Ed25519 signature,

or, while the record is not sealed yet, `pending` with when it will be. A receipt file is the
canonical JSON of `{"receipts": [...]}`: every byte is covered (by the signature, or by being
derived from what it covers, or by the canonical form itself), so `check_receipts` refuses a file
with any byte changed. Checking needs only the published seal keys (seal_keys.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..canonical import canonical_json
from ..consents.fields import DIGEST_FIELDS, PERSONAL_FIELDS
from ..consents.record_crypto import leaf_data, leaf_statement, record_digest
from ..models import ConsentRecord, Seal
from ..times import iso
from . import merkle
from .access_log import log_access
from .seal_keys import SealVerifier
from .seals import (
    STATEMENT_FIELDS,
    STATEMENT_TYPE,
    expected_seal_time,
    iter_manifest,
    seal_statement,
    statement_digest,
)

RECEIPT_TYPE = "consent-service receipt v1"
RECEIPT_LIMIT = 1000
WITHDRAWAL_METHOD = ("the site's cookie settings (the banner's preferences view): refuse any purpose and save; "
                     "the same withdrawal is recorded, and receipted, as a new record")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_SEAL_KEYS = ("statement", "digest", "signature")
_SEALED_KEYS = {"type", "consent", "record", "leaf", "inclusion", "seal"}
_PENDING_KEYS = {"type", "consent", "record", "leaf", "pending"}


def consent_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record in the shape of ISO/IEC TS 27560, from the digest fields alone."""
    return {
        "schema": "ISO/IEC TS 27560:2023 consent record (shape)",
        "record_id": record["id"], "principal_id": record["visitor_id"], "controller": record["site_id"],
        "notice": {"version": record["policy_version"], "hash": record["policy_hash"],
                   "language": record["language"]},
        "purposes": [{"purpose": purpose, "status": "given" if given else "refused"}
                     for purpose, given in sorted(record["choices"].items())],
        "method": record["method"], "collection": "web banner", "gpc": record["gpc"],
        "time": record["created_at"], "expiry": record["expires_at"],
        # The regime the choice was made under; None on records from before regimes (opt-in then),
        # which a receipt says rather than guess.
        "jurisdiction": record.get("regime"),
        "withdrawal_method": WITHDRAWAL_METHOD,
    }


def _record_fields(row: Any) -> dict[str, Any]:
    return {name: iso(value, precise=True) if isinstance(value, datetime) else value
            for name, value in ((name, getattr(row, name)) for name in DIGEST_FIELDS)}


def receipts(session: Session, site_id: str, visitor_id: str, *, max_age_seconds: float,
             actor: str | None = None) -> dict[str, Any]:
    """A receipt for each of the visitor's records (newest first, up to RECEIPT_LIMIT)."""
    rows = session.execute(sa.select(ConsentRecord).where(
        ConsentRecord.site_id == site_id, ConsentRecord.visitor_id == visitor_id)
        .order_by(ConsentRecord.seq.desc()).limit(RECEIPT_LIMIT)).scalars().all()
    seals: dict[int, tuple[Seal, list[tuple[str, bytes]]]] = {}
    made = []
    for row in rows:
        record = _record_fields(row)
        receipt: dict[str, Any] = {"type": RECEIPT_TYPE, "consent": consent_view(record), "record": record,
                                   "leaf": leaf_statement(row)}
        seal = session.execute(sa.select(Seal).where(
            Seal.site_id == site_id, Seal.first_seq <= row.seq, Seal.last_seq >= row.seq)).scalar()
        if seal is None:
            receipt["pending"] = {"sealed": False, "expected_sealed_by": iso(
                expected_seal_time(row.stored_at or row.created_at, max_age_seconds))}
        else:
            if seal.id not in seals:
                seals[seal.id] = (seal, list(iter_manifest(seal.manifest)))
            entries = seals[seal.id][1]
            index = next(i for i, (record_id, _) in enumerate(entries) if record_id == row.id)
            receipt["inclusion"] = {"leaf_index": index, "tree_size": len(entries), "path": [
                node.hex() for node in merkle.inclusion_proof(index, [leaf for _, leaf in entries])]}
            receipt["seal"] = {"statement": seal_statement(seal), "digest": seal.digest, "signature": seal.signature}
        made.append(receipt)
    if actor is not None:
        log_access(session, site_id=site_id, actor=actor, action="visitor.receipts",
                   details={"visitor_id": visitor_id}, rows=len(made))
    else:
        session.rollback()
    return {"receipts": made}


def receipts_file(document: Mapping[str, Any]) -> bytes:
    """The bytes of a receipt file: canonical JSON, so that any changed byte is refused."""
    return canonical_json(dict(document))


# ------------------------------------------------------------------------------------------ checking

class ReceiptRefused(ValueError):
    """A receipt that does not prove its record: what is wrong."""


def _require(condition: bool, why: str) -> None:
    if not condition:
        raise ReceiptRefused(why)


def _is_int(value: Any) -> bool:
    return type(value) is int


def check_receipt(receipt: Any, verifier: SealVerifier) -> dict[str, Any]:
    """Check one parsed receipt; its consent view when it proves a sealed record, else
    ReceiptRefused saying why (a pending receipt is refused: it proves nothing yet)."""
    _require(isinstance(receipt, dict) and receipt.get("type") == RECEIPT_TYPE, "not a receipt of this kind")
    record, leaf = receipt.get("record"), receipt.get("leaf")
    _require(isinstance(record, dict) and set(record) == set(DIGEST_FIELDS),
             "the record's fields are not the proof fields")
    _require(isinstance(leaf, dict) and set(leaf) == {"seq", "id", "digest", "ciphertexts"},
             "the leaf is malformed")
    ciphertexts = leaf["ciphertexts"]
    _require(isinstance(ciphertexts, dict) and set(ciphertexts) == set(PERSONAL_FIELDS)
             and all(value is None or (isinstance(value, str) and _HEX64.match(value))
                     for value in ciphertexts.values()),
             "the leaf's ciphertext hashes are malformed")
    _require(_is_int(leaf["seq"]) and leaf["id"] == record["id"], "the leaf names another record")
    try:
        digest = record_digest(record)
    except (TypeError, ValueError):
        raise ReceiptRefused("the record's fields cannot be hashed") from None
    _require(leaf["digest"] == digest, "the record does not hash to the digest its leaf commits to: it was changed")
    try:
        view = consent_view(record)
    except (AttributeError, TypeError):
        raise ReceiptRefused("the record's choices are malformed") from None
    _require(receipt.get("consent") == view, "the consent view does not match the record")
    if "pending" in receipt:
        _require(set(receipt) == _PENDING_KEYS, "unexpected fields in the receipt")
        raise ReceiptRefused(f"record {record['id']} is not sealed yet (expected by "
                             f"{receipt['pending'].get('expected_sealed_by')}): download its receipt again then")
    _require(set(receipt) == _SEALED_KEYS, "unexpected or missing fields in the receipt")
    inclusion, seal = receipt["inclusion"], receipt["seal"]
    _require(isinstance(seal, dict) and set(seal) == set(_SEAL_KEYS), "the seal is malformed")
    statement = seal["statement"]
    _require(isinstance(statement, dict) and isinstance(statement.get("key_id"), str),
             "the seal statement is malformed")
    _require(set(statement) == set(STATEMENT_FIELDS) and statement["type"] == STATEMENT_TYPE,
             "the seal statement has unexpected fields")
    _require(seal["digest"] == statement_digest(statement), "the seal does not hash to its digest: it was changed")
    _require(verifier.verify(statement["key_id"], canonical_json(statement), seal["signature"]),
             f"the seal's signature does not verify with the published seal key {statement['key_id']!r}")
    _require(statement["site"] == record["site_id"] and _is_int(statement["first_seq"])
             and _is_int(statement["last_seq"]) and statement["first_seq"] <= leaf["seq"] <= statement["last_seq"],
             "the record is not in the seal's window")
    _require(isinstance(inclusion, dict) and set(inclusion) == {"leaf_index", "tree_size", "path"}
             and _is_int(inclusion["leaf_index"]) and _is_int(inclusion["tree_size"])
             and inclusion["tree_size"] == statement["record_count"] and isinstance(inclusion["path"], list)
             and all(isinstance(node, str) and _HEX64.match(node) for node in inclusion["path"])
             and isinstance(statement["merkle_root"], str) and _HEX64.match(statement["merkle_root"]),
             "the inclusion proof is malformed")
    found = merkle.root_from_proof(inclusion["leaf_index"], inclusion["tree_size"], merkle.leaf_hash(leaf_data(leaf)),
                                   [bytes.fromhex(node) for node in inclusion["path"]])
    _require(found is not None and found.hex() == statement["merkle_root"],
             "the inclusion proof does not lead from the record to the seal's Merkle root")
    return receipt["consent"]


def check_receipts(data: bytes, verifier: SealVerifier) -> list[dict[str, Any]]:
    """Check a receipt file: canonical JSON of {"receipts": [...]}, each receipt proving its record."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ReceiptRefused("the file is not JSON: it was changed or is not a receipt file") from None
    _require(isinstance(document, dict) and set(document) == {"receipts"} and isinstance(document["receipts"], list)
             and document["receipts"], "not a receipt file")
    _require(receipts_file(document) == data, "the file is not in its canonical form: it was changed")
    return [check_receipt(receipt, verifier) for receipt in document["receipts"]]
