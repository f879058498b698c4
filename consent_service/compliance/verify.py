"""Verification of the consent records against their seals: walks the seal chain and every record
of a site in id order, in one snapshot, and names the first thing that does not match. Every
verification is written to the access log (see seals.py for what a seal commits to)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..consents.fields import DIGEST_FIELDS
from ..consents.record_crypto import record_digest
from ..db import snapshot_connection
from ..ids import id_time
from ..models import ConsentRecord, Seal
from ..times import iso, utcnow
from .access_log import log_access
from .seals import ENTRY_LENGTH, genesis_digest, iter_manifest, seal_digest


@dataclass
class Problem:
    """The first thing that does not match: what kind, which record or seal, and why."""

    kind: str
    message: str
    record_id: str | None = None
    seal_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "record_id": self.record_id,
                "seal_id": self.seal_id}


@dataclass
class Verification:
    site_id: str
    ok: bool = True
    problem: Problem | None = None
    seals: int = 0
    purged_seals: int = 0
    sealed_records: int = 0
    unsealed_records: int = 0
    oldest_unsealed_id: str | None = None
    last_seal: dict[str, Any] | None = None
    checked_at: datetime = field(default_factory=utcnow)

    def fail(self, kind: str, message: str, *, record_id: str | None = None,
             seal_id: int | None = None) -> Verification:
        self.ok = False
        self.problem = Problem(kind, message, record_id, seal_id)
        return self

    def to_dict(self) -> dict[str, Any]:
        oldest = id_time(self.oldest_unsealed_id) if self.oldest_unsealed_id else None
        return {
            "site": self.site_id, "ok": self.ok,
            "problem": self.problem.to_dict() if self.problem else None,
            "seals": self.seals, "purged_seals": self.purged_seals,
            "sealed_records": self.sealed_records, "unsealed_records": self.unsealed_records,
            "oldest_unsealed_record_id": self.oldest_unsealed_id,
            "oldest_unsealed_at": iso(oldest, precise=True) if oldest else None,
            "last_seal": self.last_seal, "checked_at": iso(self.checked_at, precise=True),
        }


_RECORD_COLUMNS = [ConsentRecord.__table__.c[name] for name in DIGEST_FIELDS] + [
    ConsentRecord.__table__.c.digest]


def _records(connection: sa.Connection, site_id: str) -> Iterator[Any]:
    result = connection.execute(
        sa.select(*_RECORD_COLUMNS).where(ConsentRecord.site_id == site_id).order_by(ConsentRecord.id),
        execution_options={"yield_per": 2000})
    for row in result:
        yield row._mapping


def verify(session: Session, site_id: str, *, actor: str) -> Verification:
    """Check every seal and record of a site, and write the verification to the access log."""
    report = check_site(session, site_id)
    log_access(session, site_id=site_id, actor=actor, action="proof.verify",
               rows=report.sealed_records + report.unsealed_records,
               details={"ok": report.ok, "problem": report.problem.to_dict() if report.problem else None})
    return report


def check_site(session: Session, site_id: str) -> Verification:
    """Walk the seal chain and every record of a site in id order; stop at the first mismatch.

    Memory stays flat: records are streamed, and one seal's manifest is loaded at a time. All reads
    share one snapshot, so a seal or purge made meanwhile cannot look like tampering."""
    report = Verification(site_id=site_id)
    with snapshot_connection(session) as connection, connection.begin():
        seals = connection.execute(
            sa.select(Seal.id, Seal.site_id, Seal.first_record_id, Seal.last_record_id, Seal.record_count,
                      Seal.records_digest, Seal.previous_digest, Seal.digest, Seal.created_at,
                      Seal.purged_at)
            .where(Seal.site_id == site_id).order_by(Seal.id)).all()
        records = _records(connection, site_id)
        try:
            return _walk(connection, report, seals, records)
        finally:
            records.close()


def _walk(connection: sa.Connection, report: Verification, seals: list[Any], records: Iterator[Any]) -> Verification:
    site_id = report.site_id
    pending = next(records, None)
    expected_previous = genesis_digest(site_id)
    previous_last = ""
    seen_live = False
    for seal in seals:
        report.seals += 1
        if seal.digest != seal_digest(seal):
            return report.fail("seal_edited", f"seal {seal.id} does not hash to its digest: "
                               "one of its fields was changed", seal_id=seal.id)
        if seal.previous_digest != expected_previous:
            return report.fail("seal_chain_broken", f"seal {seal.id} does not follow the seal before it: "
                               "a seal was removed, inserted or rewritten", seal_id=seal.id)
        if not (previous_last < seal.first_record_id <= seal.last_record_id):
            return report.fail("seal_edited", f"seal {seal.id} covers a window that overlaps or "
                               "precedes the one before it", seal_id=seal.id)
        expected_previous, previous_last = seal.digest, seal.last_record_id
        if seal.purged_at is not None:
            report.purged_seals += 1
            if seen_live:
                return report.fail("purge_out_of_order", f"seal {seal.id} is marked purged but an "
                                   "earlier seal is not: retention only removes the oldest periods",
                                   seal_id=seal.id)
            if pending is not None and pending["id"] <= seal.last_record_id:
                return report.fail("record_inserted", f"record {pending['id']} lies in the period of "
                                   f"seal {seal.id}, which was purged", record_id=pending["id"],
                                   seal_id=seal.id)
            continue
        seen_live = True
        manifest = connection.execute(sa.select(Seal.manifest).where(Seal.id == seal.id)).scalar() or b""
        if hashlib.sha256(manifest).hexdigest() != seal.records_digest:
            return report.fail("seal_edited", f"seal {seal.id}: the list of sealed records does not hash "
                               "to its records_digest", seal_id=seal.id)
        count = 0
        for record_id, digest in iter_manifest(manifest):
            if pending is not None and pending["id"] < record_id:
                inside = pending["id"] >= seal.first_record_id
                return _inserted(report, pending["id"], seal.id if inside else None)
            if pending is None or pending["id"] != record_id:
                return report.fail("record_deleted", f"record {record_id}, sealed by seal {seal.id}, is "
                                   "missing", record_id=record_id, seal_id=seal.id)
            actual = record_digest(pending)
            if actual != digest or pending["digest"] != digest:
                return report.fail("record_edited", f"record {record_id} does not match the digest "
                                   f"seal {seal.id} holds for it: it was changed after sealing",
                                   record_id=record_id, seal_id=seal.id)
            count += 1
            pending = next(records, None)
        if count != seal.record_count or count * ENTRY_LENGTH != len(manifest):
            return report.fail("seal_edited", f"seal {seal.id} says {seal.record_count} records but lists "
                               f"{count}", seal_id=seal.id)
        report.sealed_records += count
        report.last_seal = {"id": seal.id, "last_record_id": seal.last_record_id, "digest": seal.digest,
                            "created_at": iso(seal.created_at, precise=True)}
    if report.last_seal is None and seals:
        last = seals[-1]
        report.last_seal = {"id": last.id, "last_record_id": last.last_record_id, "digest": last.digest,
                            "created_at": iso(last.created_at, precise=True)}
    while pending is not None:
        if pending["id"] <= previous_last:
            return _inserted(report, pending["id"], None)
        if record_digest(pending) != pending["digest"]:
            return report.fail("record_edited", f"record {pending['id']} (not yet sealed) does not match "
                               "its own digest", record_id=pending["id"])
        report.unsealed_records += 1
        report.oldest_unsealed_id = report.oldest_unsealed_id or pending["id"]
        pending = next(records, None)
    return report


def _inserted(report: Verification, record_id: str, seal_id: int | None) -> Verification:
    where = f"inside the window of seal {seal_id}" if seal_id else "between two sealed windows"
    return report.fail("record_inserted", f"record {record_id} lies {where} but no seal lists it: it was "
                       "inserted after sealing", record_id=record_id, seal_id=seal_id)
