"""Erasure that is true: after a visitor erases its data (and a checkpoint), the live database files
— SQLite's database, -wal and -shm files; PostgreSQL's heap files of every part of visitor_keys
and of consent_records, read from the data directory — hold neither the visitor's key (raw or wrapped)
nor anything that decrypts its personal fields. Another visitor's key is found in the same files,
so the search is known to look in the right place."""

from __future__ import annotations

import gc
import secrets
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from consent_service.consents.visitor_keys import key_context, open_key
from consent_service.crypto import FieldCipher
from consent_service.extensions import db
from consent_service.keyring import KeyUnavailable
from tests.support import DEMO_ORIGIN, require_service, services
from tests.support.compliance import check, seal_all

ERASE = "/v1/sites/demo/visitors/me/personal-data"


def live_files(app) -> list[Path]:
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            path = Path(engine.url.database)
            return [candidate for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if candidate.exists()]
        with engine.connect() as connection:
            directory = connection.execute(sa.text("SELECT current_setting('data_directory')")).scalar()
            # Every part of visitor_keys (it is partitioned: see migration 0005) and consent_records.
            relations = connection.execute(sa.text(
                "SELECT pg_relation_filepath(relid) FROM pg_partition_tree('visitor_keys') WHERE isleaf "
                "UNION ALL SELECT pg_relation_filepath('consent_records')")).scalars().all()
            files = [Path(directory) / relation for relation in relations]
    try:
        for file in files:
            file.read_bytes()
    except OSError as error:  # a PostgreSQL on another machine, or files this user cannot read
        require_service("PostgreSQL's data files", str(error))
    return files


def quiet(app) -> None:
    """Wait until no other transaction of this database holds a snapshot (an export a test left
    for the garbage collector, say): an erasure during one is the case test_long_transaction covers."""
    with app.app_context(), db.engine.connect() as connection:
        if connection.dialect.name != "postgresql":
            return
        for _ in range(100):
            gc.collect()
            holding = connection.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_xmin IS NOT NULL")).scalar()
            connection.rollback()
            if not holding:
                return
            time.sleep(0.05)
        raise AssertionError("another transaction keeps a snapshot open in the test database")


def checkpoint(app) -> None:
    with app.app_context(), db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("CHECKPOINT")
        else:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def visitor(client, consent_body, agent):
    response = client.post("/v1/sites/demo/consents", json=consent_body(),
                           headers={"Origin": DEMO_ORIGIN, "User-Agent": agent})
    assert response.status_code == 201
    return response.get_json()


def stored(app, visitor_id):
    with app.app_context():
        wrapped = db.session.execute(sa.text("SELECT key FROM visitor_keys WHERE visitor_id = :v"),
                                     {"v": visitor_id}).scalar()
        record = db.session.execute(sa.text("SELECT id, user_agent FROM consent_records WHERE visitor_id = :v"),
                                    {"v": visitor_id}).one()
        db.session.rollback()
    return bytes(wrapped), record[0], bytes(record[1])


def decryptable(app, data: bytes, visitor_id: str, record_id: str, ciphertext: bytes) -> bool:
    """Does any wrapped key in these bytes open for this visitor and decrypt its user agent?"""
    keyring = services(app).keyring
    prefix = b"w1" + keyring.newest_id
    start = data.find(prefix)
    while start >= 0:
        try:
            key = keyring.unwrap(data[start:start + 66], key_context("demo", visitor_id))
        except KeyUnavailable:
            key = None
        if key is not None and FieldCipher(key).decrypt(record_id, "user_agent", ciphertext) is not None:
            return True
        start = data.find(prefix, start + 1)
    return False


def test_erased_key_is_gone_from_the_live_database_files(app, client, demo, consent_body):
    probe = f"Mozilla/5.0 ErasureProbe-{secrets.token_hex(4)}"
    erased = visitor(client, consent_body, probe)
    kept = visitor(client, consent_body, probe + "-kept")
    wrapped, record_id, ciphertext = stored(app, erased["visitor_id"])
    kept_wrapped, kept_record, kept_ciphertext = stored(app, kept["visitor_id"])
    raw = open_key(services(app).keyring, "demo", erased["visitor_id"], wrapped)
    assert raw is not None and FieldCipher(raw).decrypt(record_id, "user_agent", ciphertext) == probe
    seal_all(app)
    checkpoint(app)
    before = b"".join(file.read_bytes() for file in live_files(app))
    assert wrapped in before and raw not in before and probe.encode() not in before  # wrapped at rest, always
    assert decryptable(app, before, erased["visitor_id"], record_id, ciphertext)

    quiet(app)
    response = client.delete(ERASE, headers={"Origin": DEMO_ORIGIN, "X-Consent-Token": erased["token"]})
    assert response.status_code == 200 and response.get_json()["key_deleted"] is True
    checkpoint(app)

    after = b"".join(file.read_bytes() for file in live_files(app))
    assert raw not in after, "the erased key's raw bytes are in the database files"
    assert wrapped not in after, "the erased key's wrapped bytes are in the database files"
    assert probe.encode() not in after
    assert not decryptable(app, after, erased["visitor_id"], record_id, ciphertext)
    assert ciphertext in after  # the ciphertext stays (the seal covers it), unreadable
    # The search finds what is there: the other visitor's key, which still decrypts its field.
    assert kept_wrapped in after and decryptable(app, after, kept["visitor_id"], kept_record, kept_ciphertext)
    assert check(app).ok


@pytest.mark.parametrize("count", [40])
def test_erasing_many_visitors_leaves_none_of_their_keys(app, client, demo, consent_body, count):
    made = [visitor(client, consent_body, f"Mozilla/5.0 Many-{index}") for index in range(count)]
    keys = [stored(app, made_one["visitor_id"])[0] for made_one in made]
    checkpoint(app)
    quiet(app)
    for made_one in made[::2]:
        assert client.delete(ERASE, headers={"X-Consent-Token": made_one["token"]}).status_code == 200
    checkpoint(app)
    after = b"".join(file.read_bytes() for file in live_files(app))
    assert [key in after for key in keys[::2]] == [False] * len(keys[::2])
    assert all(key in after for key in keys[1::2])


def test_long_transaction_holds_an_erased_key_until_compaction(app, client, demo, consent_body):
    """A transaction older than the erasure that has read the keys (a long export) holds the
    rewrite back: the erasure does not wait for it (recording would queue behind the rewrite), and
    `keys compact` removes the key's bytes once it ends."""
    from consent_service.cli import main

    erased = visitor(client, consent_body, "Mozilla/5.0 HeldBack")
    wrapped = stored(app, erased["visitor_id"])[0]
    quiet(app)
    with app.app_context(), db.engine.connect() as export:
        if export.dialect.name == "postgresql":
            export = export.execution_options(isolation_level="REPEATABLE READ")
        export.begin()
        assert export.execute(sa.text("SELECT count(*) FROM visitor_keys")).scalar() >= 1  # its snapshot is taken
        started = time.monotonic()
        assert client.delete(ERASE, headers={"X-Consent-Token": erased["token"]}).status_code == 200
        assert time.monotonic() - started < 5
        checkpoint(app)
        held = wrapped in b"".join(file.read_bytes() for file in live_files(app))
        export.rollback()
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
    assert held is postgres  # SQLite's readers do not stop secure_delete; PostgreSQL keeps the row
    result = app.test_cli_runner().invoke(main, ["keys", "compact"])
    assert result.exit_code == 0 and ("rewrote" in result.output) is postgres
    checkpoint(app)
    assert wrapped not in b"".join(file.read_bytes() for file in live_files(app))
