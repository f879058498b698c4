"""Redis: the current-consent cache, shared rate limits, and surviving a Redis that stops."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time

import redis

from consent_service.auth import create_key
from consent_service.consents.cache import REPAIR_INTERVAL_SECONDS, ConsentCache
from consent_service.devserver import RedisServer
from consent_service.extensions import db
from consent_service.ids import new_id
from consent_service.redis_store import RedisStore
from tests.support import (
    DEMO_ORIGIN,
    RUN_ID,
    TEST_ENV,
    count_records,
    drop_redis_keys,
    require_service,
    services,
    sync_demo,
)

URL = "/v1/sites/demo/consents"


def read_key(app):
    with app.app_context():
        return {"Authorization": f"Bearer {create_key(db.session, 'demo', 'read')[1]}"}


def test_current_consent_is_written_through_to_redis(make_app, redis_url, consent_body):
    app = make_app(REDIS_URL=redis_url)
    sync_demo(app)
    client = app.test_client()
    recorded = client.post(URL, json=consent_body(), headers={"Origin": DEMO_ORIGIN}).get_json()
    cache = app.extensions["consent"].consent_cache
    hit, summary = cache.get("demo", recorded["visitor_id"])
    assert hit and summary["record_id"] == recorded["record_id"]
    # The cached value holds no personal data.
    assert set(summary) == {"record_id", "policy_version", "choices", "method", "recorded_at", "expires_at",
                            "regime", "regime_version"}
    body = client.get(f"/v1/sites/demo/visitors/{recorded['visitor_id']}/consent", headers=read_key(app)).get_json()
    assert body["record_id"] == recorded["record_id"] and body["status"] == "valid"


POSTER = """
import json, sys
from consent_service.app import create_app
app = create_app()
client = app.test_client()
body = json.loads(sys.argv[1])
print(json.dumps([client.post("/v1/sites/demo/consents", json=body, headers={"Origin": sys.argv[3]}).status_code
                  for _ in range(2)]))
"""


def test_rate_limits_are_shared_across_processes(make_app, redis_url, consent_body, migrated_url):
    """Two separate processes, one limit of 3 writes a minute: the second process sees the first's."""
    sync_demo(make_app())
    env = {**os.environ, **TEST_ENV, "DATABASE_URL": migrated_url, "REDIS_URL": redis_url,
           "RATE_LIMIT_WRITES": "3/minute"}
    env["REDIS_PREFIX"] = f"cs-test-limit-shared-{RUN_ID}:"
    runs = [subprocess.run([sys.executable, "-c", POSTER, json.dumps(consent_body()), "", DEMO_ORIGIN], env=env,
                           capture_output=True, text=True, timeout=60, check=True) for _ in range(2)]
    assert [json.loads(run.stdout.strip().splitlines()[-1]) for run in runs] == [[201, 201], [201, 429]]


def test_service_keeps_working_when_redis_stops(make_app, private_redis, consent_body):
    url, process = private_redis
    app = make_app(REDIS_URL=url)
    sync_demo(app)
    client = app.test_client()
    headers = read_key(app)
    before = client.post(URL, json=consent_body(), headers={"Origin": DEMO_ORIGIN}).get_json()
    assert app.extensions["consent"].consent_cache.get("demo", before["visitor_id"])[0]
    assert client.get("/readyz").status_code == 200

    process.kill()
    process.wait(timeout=5)

    after = client.post(URL, json=consent_body(token=before["token"], method="reject_all",
                                               choices={c: c == "necessary" for c in
                                                        ("necessary", "preferences", "analytics", "marketing")}),
                        headers={"Origin": DEMO_ORIGIN})
    assert after.status_code == 201
    current = client.get(f"/v1/sites/demo/visitors/{before['visitor_id']}/consent", headers=headers)
    assert current.status_code == 200
    assert current.get_json()["record_id"] == after.get_json()["record_id"]
    assert client.get("/readyz").status_code == 503
    assert count_records(app) == 2


ACCEPT = dict.fromkeys(("necessary", "preferences", "analytics", "marketing"), True)
WITHDRAWN = {"necessary": True, "preferences": False, "analytics": False, "marketing": False}


def record(app, body):
    response = app.test_client().post(URL, json=body, headers={"Origin": DEMO_ORIGIN})
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def current(app, headers, visitor_id):
    response = app.test_client().get(f"/v1/sites/demo/visitors/{visitor_id}/consent", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_write_after_a_stall_is_read_at_once_everywhere(make_app, redis_server, consent_body):
    """The outsider's repro: one stall makes the writer back off; a withdrawal right after it must
    not leave the accepted choice in Redis for anyone to read."""
    writer, reader = make_app(REDIS_URL=redis_server.url), make_app(REDIS_URL=redis_server.url)
    sync_demo(writer)
    headers = read_key(writer)
    accepted = record(writer, consent_body(method="accept_all", choices=ACCEPT))
    for app in (writer, reader):
        assert current(app, headers, accepted["visitor_id"])["method"] == "accept_all"
    redis_server.pause()
    try:
        for _ in range(3):  # reads time out and fall back to the database; the writer now backs off
            assert current(writer, headers, accepted["visitor_id"])["method"] == "accept_all"
    finally:
        redis_server.resume()
    withdrawn = record(writer, consent_body(method="withdraw", choices=WITHDRAWN, token=accepted["token"]))
    for app in (writer, reader, make_app(REDIS_URL=redis_server.url)):
        assert current(app, headers, accepted["visitor_id"])["record_id"] == withdrawn["record_id"]
    time.sleep(2.5)  # past the writer's back-off: Redis answers again, with the new entry
    for app in (writer, reader):
        assert current(app, headers, accepted["visitor_id"])["record_id"] == withdrawn["record_id"]


def test_a_write_during_a_stall_is_read_once_redis_resumes(make_app, redis_server, consent_body):
    writer, reader = make_app(REDIS_URL=redis_server.url), make_app(REDIS_URL=redis_server.url)
    sync_demo(writer)
    headers = read_key(writer)
    accepted = record(writer, consent_body(method="accept_all", choices=ACCEPT))
    assert current(reader, headers, accepted["visitor_id"])["method"] == "accept_all"
    redis_server.pause()
    try:
        withdrawn = record(writer, consent_body(method="withdraw", choices=WITHDRAWN, token=accepted["token"]))
        fresh = make_app(REDIS_URL=redis_server.url)  # has never failed: it sends its read to the stalled Redis
        assert current(fresh, headers, accepted["visitor_id"])["record_id"] == withdrawn["record_id"]
    finally:
        redis_server.resume()
    for app in (reader, make_app(REDIS_URL=redis_server.url), writer):
        assert current(app, headers, accepted["visitor_id"])["record_id"] == withdrawn["record_id"]
    cache = services(writer).consent_cache
    deadline = time.monotonic() + 5
    while cache.pending_repairs():
        assert time.monotonic() < deadline, "the failed write-through was never repaired"
        time.sleep(0.05)


def test_a_write_after_a_timeout_in_the_same_stall_is_queued_before_later_reads(redis_server, monkeypatch):
    """The hole behind a once-flaky never-stale test: a rate-limit count timed out at the start of
    the withdrawal's request and closed the pooled connection; the write-through then needed a new
    connection, whose handshake the stalled Redis could not answer, so it never left the process,
    and a reader met the old choice once Redis resumed unless the repair thread won the race. The
    timed-out connection must stay open so that the write queues behind the first command."""
    writer, reader = ConsentCache(RedisStore(redis_server.url)), ConsentCache(RedisStore(redis_server.url))
    monkeypatch.setattr(ConsentCache, "_ensure_repairer", lambda self: None)  # no repair to win a race
    accepted, withdrawn = summary(new_id(1_700_000_000), "accept_all"), summary(new_id(1_700_000_001), "withdraw")
    writer.put("demo", "v1", accepted)
    assert reader.get("demo", "v1") == (True, accepted)
    redis_server.pause()
    try:
        assert writer.store.read("GET", "another key") is None  # times out: the read backs off
        writer.put("demo", "v1", withdrawn)  # sent all the same, behind the read
        # A thread that has not used Redis yet takes the same open connection from the pool.
        other_thread = threading.Thread(target=writer.put, args=("demo", "v2", withdrawn))
        other_thread.start()
        other_thread.join()
        assert writer.pending_repairs() == 2  # unconfirmed: read from the database here until repaired
    finally:
        redis_server.resume()
    assert reader.get("demo", "v1") == (True, withdrawn)
    assert reader.get("demo", "v2") == (True, withdrawn)
    time.sleep(2.1)  # past the back-off: the writer's connection reads its late replies and goes on
    assert writer.store.read("PING")[1] == b"PONG"  # the late replies were read first, not taken for this one
    writer.repair()
    assert writer.pending_repairs() == 0 and writer.get("demo", "v1") == (True, withdrawn)


def test_a_restarted_redis_serves_nothing_it_held_before(make_app, tmp_path, consent_body):
    """A Redis that persists its data comes back with the entry a write could not replace while
    it was down, and the process that missed it died before repairing it: entries of an earlier
    run are not served."""
    if shutil.which("redis-server") is None:
        require_service("redis-server", "binary not found")
    server = RedisServer(tmp_path, persistent=True)
    try:
        writer = make_app(REDIS_URL=server.url)
        sync_demo(writer)
        headers = read_key(writer)
        accepted = record(writer, consent_body(method="accept_all", choices=ACCEPT))
        assert current(writer, headers, accepted["visitor_id"])["method"] == "accept_all"
        server.save()
        server.kill()
        cache = services(writer).consent_cache
        cache.repair = lambda: None  # the writing process dies before its repair (its thread sends nothing)
        withdrawn = record(writer, consent_body(method="withdraw", choices=WITHDRAWN, token=accepted["token"]))
        assert cache.pending_repairs() == 1
        cache._dirty.clear()
        server.start()
        key = cache._key("demo", accepted["visitor_id"])
        assert redis.Redis.from_url(server.url).get(key).startswith(accepted["record_id"].encode())  # still there
        for app in (make_app(REDIS_URL=server.url), writer):
            assert current(app, headers, accepted["visitor_id"])["record_id"] == withdrawn["record_id"]
    finally:
        server.kill()


def summary(record_id, method="custom"):
    return {"record_id": record_id, "policy_version": 1, "choices": {"necessary": True}, "method": method,
            "recorded_at": "2026-01-01T00:00:00Z", "expires_at": "2027-01-01T00:00:00Z"}


def test_newer_wins_and_fills_never_replace_an_entry(redis_url):
    cache = ConsentCache(RedisStore(redis_url, prefix=f"cs-test-order-{RUN_ID}:"))
    older, newer = new_id(1_700_000_000), new_id(1_700_000_001)
    cache.put("demo", "v1", summary(newer))
    cache.put("demo", "v1", summary(older))  # a slower writer finishing last
    assert cache.get("demo", "v1") == (True, summary(newer))
    cache.fill("demo", "v1", summary(older))  # a reader that read the database before the write
    cache.fill("demo", "v1", None)
    assert cache.get("demo", "v1") == (True, summary(newer))
    cache.fill("demo", "v2", None)  # known to have no record, until a record is written
    assert cache.get("demo", "v2") == (True, None)
    cache.put("demo", "v2", summary(older))
    assert cache.get("demo", "v2") == (True, summary(older))
    # Entries are stamped with the run_id of the server, learnt on connecting.
    assert cache.store.read("PING")[0] == redis.Redis.from_url(redis_url).info("server")["run_id"]
    # An entry stamped by another Redis run (written before a restart) is a miss.
    key = cache._key("demo", "v3")
    cache.store.write("SET", key, newer + "f" * 40 + json.dumps(summary(newer)))
    assert cache.get("demo", "v3") == (False, None)
    cache.fill("demo", "v3", summary(older))
    assert cache.get("demo", "v3") == (True, summary(older))
    drop_redis_keys(redis_url, f"cs-test-order-{RUN_ID}:*")


def test_an_outage_is_logged_once_and_its_end_once(redis_server, caplog):
    cache = ConsentCache(RedisStore(redis_server.url, backoff_seconds=0))
    redis_server.kill()
    with caplog.at_level(logging.WARNING):
        for index in range(20):
            cache.put("demo", f"v{index}", summary(new_id()))
            assert cache.get("demo", f"v{index}") == (False, None)
        redis_server.start()
        deadline = time.monotonic() + 5
        while cache.pending_repairs():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    lines = [r.getMessage() for r in caplog.records if r.name == "consent_service.redis_store"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("redis unavailable (ConnectionError)") and "answers again" in lines[1]
    assert cache.get("demo", "v19")[0]  # repaired: the write is in Redis now


def test_a_repair_waiting_for_an_absent_redis_does_not_spin(redis_server):
    """The repair thread once woke without waiting while Redis was away, spinning and holding the
    interpreter from every request thread of the process for the whole outage."""
    cache = ConsentCache(RedisStore(redis_server.url))
    rounds: list[int] = []  # the id of the thread that ran each repair round
    repair = cache.repair
    cache.repair = lambda: rounds.append(threading.get_native_id()) or repair()  # type: ignore[method-assign]
    redis_server.kill()
    cache.put("demo", "v1", summary(new_id()))
    assert cache.pending_repairs() == 1
    deadline = time.monotonic() + 5
    while not rounds and time.monotonic() < deadline:
        time.sleep(0.01)
    thread_id = rounds[0]
    before, counted = _thread_cpu(thread_id), len(rounds)
    time.sleep(1.0)
    # This cache's repair thread's own CPU: the test process's other threads are not this test's to count.
    cpu = _thread_cpu(thread_id) - before
    assert cpu < 0.3, f"{cpu:.2f} s of CPU in one second of waiting"
    assert len(rounds) - counted <= 1 / REPAIR_INTERVAL_SECONDS + 2, "the thread did not wait between rounds"
    assert cache.pending_repairs() == 1


def _thread_cpu(thread_id: int) -> float:
    """A thread's CPU seconds so far (user + system, from /proc)."""
    with open(f"/proc/self/task/{thread_id}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_replayed_write_is_written_through(make_app, redis_url, consent_body):
    """A write stored whose process died before writing it through: the banner's resend (same
    client_record_id) is a replay, and it writes the stored record through."""
    app = make_app(REDIS_URL=redis_url)
    sync_demo(app)
    headers = read_key(app)
    cache = services(app).consent_cache
    accepted = record(app, consent_body(method="accept_all", choices=ACCEPT))
    visitor = accepted["visitor_id"]
    _, accepted_summary = cache.get("demo", visitor)
    body = consent_body(method="withdraw", choices=WITHDRAWN, token=accepted["token"],
                        client_record_id="withdraw-replayed-0001")
    withdrawn = record(app, body)
    cache.store.write("DEL", cache._key("demo", visitor))  # as if the write-through never happened
    cache.fill("demo", visitor, accepted_summary)
    assert current(app, headers, visitor)["method"] == "accept_all"
    assert record(app, body)["record_id"] == withdrawn["record_id"]
    assert current(app, headers, visitor)["record_id"] == withdrawn["record_id"]


def test_a_stalled_redis_is_no_traceback_per_request(make_app, redis_server, consent_body, caplog):
    app = make_app(REDIS_URL=redis_server.url)
    sync_demo(app)
    redis_server.pause()
    try:
        with caplog.at_level(logging.INFO):
            for _ in range(3):
                assert record(app, consent_body())["record_id"]
    finally:
        redis_server.resume()
    assert not [record for record in caplog.records if record.exc_info]
    assert len([r for r in caplog.records if r.getMessage().startswith("redis unavailable")]) == 1
