"""Proof benchmark: sealing and verifying N records with Ed25519-signed seals over RFC 6962 Merkle
trees (leaves covering each record's digest, sequence and ciphertext hashes), beside the unsigned
seals the service used before (SHA-256 over a manifest of record digests, chained; a minimal
reimplementation kept here as the yardstick), measured in the same run on the same PostgreSQL rows.

    .venv/bin/python -m bench.proof_bench [--rows N] [--rounds R]

Records are made with the service's own proof functions and loaded with COPY (bench.export_bench).
Each round seals everything in batches of 1000 and verifies everything, the yardstick first, each
from a clean slate. It prints records/s (wall) and this process's CPU µs per record (the database's
own work is not in it), and the size of a visitor's receipt. The database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bench.export_bench import load_records
from bench.support import scratch_database, table
from consent_service.canonical import canonical_hash
from consent_service.consents.fields import DIGEST_FIELDS
from consent_service.consents.record_crypto import record_digest
from consent_service.times import iso

BATCH = 1000
LEGACY_TABLE = """CREATE TABLE IF NOT EXISTS legacy_seals (
    id serial PRIMARY KEY, site_id text, first_record_id text, last_record_id text, record_count int,
    records_digest text, previous_digest text, digest text, created_at timestamptz, manifest bytea)"""


# ------------------------------------------------------------- the yardstick: unsigned seals as before

def _legacy_digest(seal: dict) -> str:
    return canonical_hash({name: seal[name] for name in (
        "site_id", "first_record_id", "last_record_id", "record_count", "records_digest", "previous_digest")}
        | {"created_at": iso(seal["created_at"], precise=True)})


def legacy_seal_all(session, site_id: str) -> int:
    """Seal every record in id order, a batch at a time, as the service did before this version."""
    previous = hashlib.sha256(b"consent-service seal chain\x00" + site_id.encode()).hexdigest()
    after, made = "", 0
    while True:
        rows = session.execute(sa.text(
            "SELECT id, digest FROM consent_records WHERE site_id = :site AND id > :after ORDER BY id LIMIT :n"),
            {"site": site_id, "after": after, "n": BATCH}).all()
        if not rows:
            break
        manifest = b"".join(record_id.encode("ascii") + bytes.fromhex(digest) for record_id, digest in rows)
        seal = {"site_id": site_id, "first_record_id": rows[0][0], "last_record_id": rows[-1][0],
                "record_count": len(rows), "records_digest": hashlib.sha256(manifest).hexdigest(),
                "previous_digest": previous, "created_at": datetime.now(UTC)}
        seal["digest"] = _legacy_digest(seal)
        session.execute(sa.text(
            "INSERT INTO legacy_seals (site_id, first_record_id, last_record_id, record_count, records_digest, "
            "previous_digest, digest, created_at, manifest) VALUES (:site_id, :first_record_id, :last_record_id, "
            ":record_count, :records_digest, :previous_digest, :digest, :created_at, :manifest)"),
            {**seal, "manifest": manifest})
        session.commit()
        previous, after, made = seal["digest"], rows[-1][0], made + len(rows)
    return made


def legacy_verify(session, site_id: str) -> int:
    """The old verification loop: the chain, each manifest's hash, every record's digest in id order."""
    from consent_service.models import ConsentRecord

    table_ = ConsentRecord.__table__
    columns = [table_.c[name] for name in DIGEST_FIELDS] + [table_.c.digest]
    records = iter(session.connection().execute(
        sa.select(*columns).where(table_.c.site_id == site_id).order_by(table_.c.id),
        execution_options={"yield_per": 2000}))
    previous = hashlib.sha256(b"consent-service seal chain\x00" + site_id.encode()).hexdigest()
    checked = 0
    for seal in session.execute(sa.text("SELECT * FROM legacy_seals WHERE site_id = :s ORDER BY id"),
                                {"s": site_id}).mappings():
        assert seal["previous_digest"] == previous and _legacy_digest(dict(seal)) == seal["digest"]
        manifest = bytes(seal["manifest"])
        assert hashlib.sha256(manifest).hexdigest() == seal["records_digest"]
        for start in range(0, len(manifest), 58):
            row = next(records)._mapping
            assert row["id"] == manifest[start:start + 26].decode() and record_digest(row) == row["digest"]
            assert row["digest"] == manifest[start + 26:start + 58].hex()
            checked += 1
        previous = seal["digest"]
    session.rollback()
    return checked


# ---------------------------------------------------------------------------------------------- run

def measure(action) -> tuple[int, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    count = action()
    return count, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--visitors", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from consent_service.compliance.receipts import receipts, receipts_file
    from consent_service.compliance.seals import seal_pending
    from consent_service.compliance.verify import check_site
    from consent_service.extensions import db

    with scratch_database("consent_proof_bench") as database_url:
        app, loaded = load_records(database_url, args.rows, args.visitors)
        print(f"loaded {args.rows:,} records in {loaded:.1f}s", flush=True)
        shared = app.extensions["consent"]
        later = datetime.now(UTC) + timedelta(minutes=5)  # every record settled
        results: list[list[str]] = [["round", "what", "records/s", "CPU µs/record", "seconds"]]
        with app.app_context():
            db.session.execute(sa.text(LEGACY_TABLE))
            db.session.commit()
            for round_ in range(1, args.rounds + 1):
                db.session.execute(sa.text("DELETE FROM legacy_seals"))
                db.session.execute(sa.text("DELETE FROM seals"))
                db.session.commit()
                runs = [
                    ("seal, unsigned (before)", lambda: legacy_seal_all(db.session, "demo")),
                    ("seal, signed + Merkle", lambda: sum(seal.record_count for seal in seal_pending(
                        db.session, "demo", BATCH, 300, shared.seal_signer, now=later, force=True))),
                    ("verify, unsigned (before)", lambda: legacy_verify(db.session, "demo")),
                    ("verify, signed + Merkle", lambda: _verified(check_site(
                        db.session, "demo", shared.seal_signer.verifier))),
                ]
                rates = {}
                for name, action in runs:
                    count, wall, cpu = measure(action)
                    if count != args.rows:
                        raise RuntimeError(f"{name}: {count} of {args.rows} records")
                    rates[name] = count / wall
                    results.append([str(round_), name, f"{count / wall:,.0f}", f"{cpu / count * 1e6:.1f}",
                                    f"{wall:.1f}"])
                seal_ratio = rates["seal, signed + Merkle"] / rates["seal, unsigned (before)"]
                verify_ratio = rates["verify, signed + Merkle"] / rates["verify, unsigned (before)"]
                results.append([str(round_), "signed / unsigned", f"seal {seal_ratio:.2f}x",
                                f"verify {verify_ratio:.2f}x", ""])
            middle = sa.text("SELECT visitor_id FROM consent_records ORDER BY seq LIMIT 1 OFFSET :n")
            visitor = db.session.execute(middle, {"n": args.rows // 2}).scalar()
            document = receipts(db.session, "demo", visitor, max_age_seconds=300)
            size = len(receipts_file(document))
            count = len(document["receipts"])
            path = len(document["receipts"][0]["inclusion"]["path"])
            db.engine.dispose()
    print(f"\nProof of {args.rows:,} records, PostgreSQL, seals of {BATCH}, {os.cpu_count()} CPUs")
    print(table(results))
    print(f"receipt: {size / count:,.0f} bytes per record (visitor with {count} records; "
          f"inclusion proof {path} hashes in a seal of {BATCH})")


def _verified(report) -> int:
    if not report.ok:
        raise RuntimeError(f"verification failed: {report.problem}")
    return report.sealed_records + report.unsealed_records


if __name__ == "__main__":
    main()
