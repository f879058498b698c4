"""Redis: the current-consent cache, shared rate limits, and surviving a Redis that stops."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from consent_service.auth import create_key
from consent_service.extensions import db
from tests.support import DEMO_ORIGIN, RUN_ID, TEST_ENV, count_records, sync_demo

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
    assert set(summary) == {"record_id", "policy_version", "choices", "method", "recorded_at", "expires_at"}
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


def test_near_cache_copies_are_dropped_when_another_process_writes(make_app, redis_url, consent_body):
    """Two apps share Redis: a copy one holds in process is dropped when the other records a choice."""
    import time

    reader, writer = make_app(REDIS_URL=redis_url), make_app(REDIS_URL=redis_url)
    sync_demo(reader)
    headers = read_key(reader)
    first = writer.test_client().post(URL, json=consent_body(), headers={"Origin": DEMO_ORIGIN}).get_json()
    url = f"/v1/sites/demo/visitors/{first['visitor_id']}/consent"
    client = reader.test_client()
    near = reader.extensions["consent"].consent_cache.near
    deadline = time.monotonic() + 5
    while not near.get(reader.extensions["consent"].consent_cache._key("demo", first["visitor_id"]))[0]:
        assert client.get(url, headers=headers).get_json()["record_id"] == first["record_id"]
        assert time.monotonic() < deadline, "the reader never kept a copy"
        time.sleep(0.02)
    second = writer.test_client().post(URL, json=consent_body(token=first["token"], method="reject_all", choices={
        c: c == "necessary" for c in ("necessary", "preferences", "analytics", "marketing")}),
        headers={"Origin": DEMO_ORIGIN}).get_json()
    deadline = time.monotonic() + 2
    while client.get(url, headers=headers).get_json()["record_id"] != second["record_id"]:
        assert time.monotonic() < deadline, "the reader kept serving the replaced choice"
        time.sleep(0.01)
