"""Verification of the consent records against their signed seals: checks every policy text, then
walks the seal chain and every record of a site in store order (`seq`), in one snapshot, and names
the first thing that does not match. It needs only the seal keys' public half (an auditor can run
it with the published keys) and can be told the chain head an auditor kept, to catch a truncated
or rewritten tail. Every verification is written to the access log (see seals.py for what a seal
commits to, retention.py for purge markers)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..canonical import canonical_hash, canonical_json
from ..consents.fields import DIGEST_FIELDS, PERSONAL_FIELDS
from ..consents.record_crypto import record_digest
from ..db import snapshot_connection
from ..ids import id_time
from ..models import ConsentRecord, PolicyVersion, Seal
from ..times import iso, utcnow
from . import merkle
from .access_log import log_access
from .retention import check_purge_marker
from .seal_keys import SealVerifier
from .seals import (
    ENTRY_LENGTH,
    MAX_CLOCK_SKEW,
    genesis_digest,
    iter_manifest,
    record_leaf,
    seal_statement,
    statement_digest,
)


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


def head_of(seal: Any) -> dict[str, Any]:
    """A seal as a chain head: what an auditor keeps outside the database."""
    return {"seal_id": seal.id, "digest": seal.digest, "last_seq": seal.last_seq,
            "last_record_id": seal.last_record_id, "created_at": iso(seal.created_at, precise=True),
            "key_id": seal.key_id}


@dataclass
class Verification:
    site_id: str
    ok: bool = True
    problem: Problem | None = None
    seals: int = 0
    purged_seals: int = 0
    sealed_records: int = 0
    unsealed_records: int = 0
    policy_versions: int = 0
    oldest_unsealed_id: str | None = None
    #: The newest seal: the chain head to keep outside the database.
    head: dict[str, Any] | None = None
    #: The seal keys that verified (their ids, as published).
    key_ids: list[str] = field(default_factory=list)
    expected_head: str | None = None
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
            "policy_versions": self.policy_versions,
            "oldest_unsealed_record_id": self.oldest_unsealed_id,
            "oldest_unsealed_at": iso(oldest, precise=True) if oldest else None,
            "head": self.head, "key_ids": self.key_ids, "expected_head": self.expected_head,
            "checked_at": iso(self.checked_at, precise=True),
        }


_RECORD_COLUMNS = [ConsentRecord.__table__.c[name] for name in DIGEST_FIELDS] + [
    ConsentRecord.__table__.c.digest, ConsentRecord.__table__.c.seq] + [
    ConsentRecord.__table__.c[name] for name in PERSONAL_FIELDS]
_SEAL_COLUMNS = [column for column in Seal.__table__.c if column.name != "manifest"]


def _records(connection: sa.Connection, site_id: str) -> Iterator[Any]:
    result = connection.execute(
        sa.select(*_RECORD_COLUMNS).where(ConsentRecord.site_id == site_id).order_by(ConsentRecord.seq),
        execution_options={"yield_per": 2000})
    for row in result:
        yield row._mapping


def verify(session: Session, site_id: str, verifier: SealVerifier, *, actor: str,
           expect_head: str | None = None) -> Verification:
    """Check every policy text, seal and record of a site, and write the verification to the
    access log."""
    report = check_site(session, site_id, verifier, expect_head=expect_head)
    log_access(session, site_id=site_id, actor=actor, action="proof.verify",
               rows=report.sealed_records + report.unsealed_records,
               details={"ok": report.ok, "problem": report.problem.to_dict() if report.problem else None,
                        "head": report.head["digest"] if report.head else None, "expected_head": expect_head})
    return report


def check_site(session: Session, site_id: str, verifier: SealVerifier, expect_head: str | None = None) -> Verification:
    """Check the policy texts, then walk the seal chain and every record of a site in store
    order; stop at the first mismatch.

    Memory stays flat: records are streamed, and one seal's manifest is loaded at a time. All reads
    share one snapshot, so a seal or purge made meanwhile cannot look like tampering."""
    report = Verification(site_id=site_id, expected_head=expect_head)
    with snapshot_connection(session) as connection, connection.begin():
        policies = _check_policies(connection, report)
        if policies is None:
            return report
        seals = connection.execute(sa.select(*_SEAL_COLUMNS).where(Seal.site_id == site_id)
                                   .order_by(Seal.id)).all()
        records = _records(connection, site_id)
        try:
            _walk(connection, report, verifier, policies, seals, records)
        finally:
            records.close()
    if report.ok and expect_head and not any(seal.digest == expect_head for seal in seals):
        report.fail("head_missing", f"no seal has the digest {expect_head} you kept: the chain no longer "
                    "reaches that head, so its tail was truncated or rewritten")
    return report


def _check_policies(connection: sa.Connection, report: Verification) -> dict[int, str] | None:
    """Every policy text must hash to the hash records name it by; version -> hash."""
    hashes: dict[int, str] = {}
    for version, notice, stored_hash in connection.execute(
            sa.select(PolicyVersion.version, PolicyVersion.notice, PolicyVersion.policy_hash)
            .where(PolicyVersion.site_id == report.site_id).order_by(PolicyVersion.version)):
        report.policy_versions += 1
        if canonical_hash(notice) != stored_hash:
            report.fail("policy_edited", f"the text of policy version {version} does not hash to its "
                        "content hash: what visitors were shown was changed")
            return None
        hashes[version] = stored_hash
    return hashes


def _walk(connection: sa.Connection, report: Verification, verifier: SealVerifier, policies: dict[int, str],
          seals: list[Any], records: Iterator[Any]) -> Verification:
    site_id = report.site_id
    if seals:
        report.head = head_of(seals[-1])  # what the database holds as the head, even if it fails
    pending = next(records, None)
    expected_previous = genesis_digest(site_id)
    previous_last_seq = 0
    seen_live = False
    #: (seal id, the latest time a record sealed so far claims): records may not claim earlier.
    sealed_until: list[tuple[int, datetime]] = []
    key_ids: set[str] = set()

    def check_record(row: Any, seal_id: int | None) -> Problem | None:
        if record_digest(row) != row["digest"]:
            where = f"the digest seal {seal_id} holds" if seal_id else "its own digest"
            return Problem("record_edited", f"record {row['id']} does not match {where}: it was changed",
                           row["id"], seal_id)
        if policies.get(row["policy_version"]) != row["policy_hash"]:
            return Problem("policy_edited", f"record {row['id']} names policy version {row['policy_version']} "
                           "by a hash that version no longer has: the policy text was replaced", row["id"], seal_id)
        if sealed_until and row["created_at"] < sealed_until[-1][1] - MAX_CLOCK_SKEW:
            claimed = next(seal for seal, until in sealed_until if until >= row["created_at"])
            return Problem("record_inserted", f"record {row['id']} claims a time ({iso(row['created_at'])}) in "
                           f"the period of seal {claimed}, but was stored after later records were sealed: "
                           "it was inserted with a back-dated time", row["id"], claimed)
        return None

    for seal in seals:
        report.seals += 1
        statement = seal_statement(seal)
        if seal.signature is None:
            return report.fail("seal_unsigned", f"seal {seal.id} carries no signature: it was not made by "
                               "this version of the service, or its signature was removed", seal_id=seal.id)
        if statement_digest(statement) != seal.digest:
            return report.fail("seal_edited", f"seal {seal.id} does not hash to its digest: one of its fields "
                               "was changed", seal_id=seal.id)
        if not verifier.verify(seal.key_id, canonical_json(statement), seal.signature):
            return report.fail("seal_forged", f"seal {seal.id}'s signature does not verify with the published "
                               f"seal key {seal.key_id!r}: it was not made by the service", seal_id=seal.id)
        key_ids.add(seal.key_id)
        if seal.previous_digest != expected_previous:
            return report.fail("seal_chain_broken", f"seal {seal.id} does not follow the seal before it: "
                               "a seal was removed, inserted or rewritten", seal_id=seal.id)
        if not (previous_last_seq < seal.first_seq <= seal.last_seq):
            return report.fail("seal_edited", f"seal {seal.id} covers a window that overlaps or "
                               "precedes the one before it", seal_id=seal.id)
        expected_previous, previous_last_seq = seal.digest, seal.last_seq
        if seal.purged_at is not None or seal.purge_marker is not None:
            report.purged_seals += 1
            if seen_live:
                return report.fail("purge_out_of_order", f"seal {seal.id} is marked purged but an "
                                   "earlier seal is not: retention only removes the oldest periods",
                                   seal_id=seal.id)
            problem = check_purge_marker(seal, verifier)
            if problem is not None:
                return report.fail(problem[0], f"seal {seal.id}: {problem[1]}", seal_id=seal.id)
            if pending is not None and pending["seq"] <= seal.last_seq:
                return report.fail("record_inserted", f"record {pending['id']} lies in the period of "
                                   f"seal {seal.id}, which was purged", record_id=pending["id"],
                                   seal_id=seal.id)
            continue
        seen_live = True
        manifest = connection.execute(sa.select(Seal.manifest).where(Seal.id == seal.id)).scalar() or b""
        entries = list(iter_manifest(manifest))
        if len(entries) != seal.record_count or len(manifest) != len(entries) * ENTRY_LENGTH or not entries \
                or merkle.root([leaf for _, leaf in entries]).hex() != seal.merkle_root \
                or (entries[0][0], entries[-1][0]) != (seal.first_record_id, seal.last_record_id):
            return report.fail("seal_edited", f"seal {seal.id}: the list of sealed records does not lead to "
                               "its signed Merkle root", seal_id=seal.id)
        listed = {record_id for record_id, _ in entries}
        latest = sealed_until[-1][1] if sealed_until else None
        for record_id, leaf in entries:
            if pending is not None and pending["seq"] < seal.first_seq and pending["id"] not in listed:
                return _inserted(report, pending["id"], None)
            if pending is None or pending["seq"] > seal.last_seq or (
                    pending["id"] != record_id and pending["id"] in listed):
                return report.fail("record_deleted", f"record {record_id}, sealed by seal {seal.id}, is "
                                   "missing", record_id=record_id, seal_id=seal.id)
            if pending["id"] != record_id:
                return _inserted(report, pending["id"], seal.id)
            problem = check_record(pending, seal.id)
            if problem is not None:
                report.problem, report.ok = problem, False
                return report
            if record_leaf(pending) != leaf:
                return report.fail("record_edited", f"record {record_id} does not match the leaf seal {seal.id} "
                                   "holds for it: its digest, a personal-field ciphertext or its place in the "
                                   "order was changed after sealing", record_id=record_id, seal_id=seal.id)
            latest = max(latest, pending["created_at"]) if latest else pending["created_at"]
            pending = next(records, None)
        sealed_until.append((seal.id, latest))
        report.sealed_records += len(entries)
    report.key_ids = sorted(key_ids)
    while pending is not None:
        if pending["seq"] <= previous_last_seq:
            return _inserted(report, pending["id"], None)
        problem = check_record(pending, None)
        if problem is not None:
            report.problem, report.ok = problem, False
            return report
        report.unsealed_records += 1
        report.oldest_unsealed_id = report.oldest_unsealed_id or pending["id"]
        pending = next(records, None)
    return report


def _inserted(report: Verification, record_id: str, seal_id: int | None) -> Verification:
    where = f"inside the window of seal {seal_id}" if seal_id else "between or before sealed windows"
    return report.fail("record_inserted", f"record {record_id} lies {where} but no seal lists it: it was "
                       "inserted after sealing", record_id=record_id, seal_id=seal_id)
