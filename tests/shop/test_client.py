"""The HTTP client against a live service on a free port (SQLite and PostgreSQL), and its fail-closed
answers against a port that refuses connections and one that accepts and never answers."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urllib3

from consent_service.auth import create_key
from consent_service.extensions import db
from consent_service.shop.client import ConsentClient
from consent_service.shop.guard import ConsentGuard
from tests.support.browser import ServerThread

ORIGIN = "http://127.0.0.1:8000"


@pytest.fixture
def live(app: Any, demo: Any) -> Iterator[str]:
    server = ServerThread(app)
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


@pytest.fixture
def read_key(app: Any, demo: Any) -> str:
    with app.app_context():
        return create_key(db.session, "demo", "read")[1]


@pytest.fixture
def recorded(app: Any, demo: Any, consent_body: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    response = app.test_client().post("/v1/sites/demo/consents", json=consent_body(), headers={"Origin": ORIGIN})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_visitor_consent_and_token_verification(live: str, read_key: str, recorded: dict[str, Any]) -> None:
    with ConsentClient(live, "demo", read_key) as client:
        answer = client.visitor_consent(recorded["visitor_id"])
        assert answer.ok and answer.status == "valid"
        assert answer.granted == {"necessary", "analytics"}
        assert answer.allows("analytics") and not answer.allows("marketing")
        assert answer.record_id == recorded["record_id"] and answer.policy_version == 1
        assert answer.method == "custom" and answer.choices["analytics"] is True

        verified = client.verify_token(recorded["token"])
        assert verified.status == "valid" and verified.granted == {"necessary", "analytics"}
        assert verified.visitor_id == recorded["visitor_id"]

        forged = client.verify_token(recorded["token"][:-2] + "xx")
        assert forged.ok and forged.status == "invalid" and forged.granted == {"necessary"}

        unknown = client.visitor_consent("01J00000000000000000000000")
        assert unknown.ok and unknown.status == "none" and unknown.granted == {"necessary"}


def test_connections_are_reused(live: str, read_key: str, recorded: dict[str, Any]) -> None:
    client = ConsentClient(live, "demo", read_key)
    for _ in range(5):
        assert client.visitor_consent(recorded["visitor_id"]).status == "valid"
        assert client.verify_token(recorded["token"]).status == "valid"
    pool = client._http.connection_from_url(live)
    assert pool.num_requests == 10 and pool.num_connections == 1
    client.close()


@pytest.mark.parametrize("key", ["csk_wrong_key", "other-site", "bad-visitor-id"])
def test_an_error_answer_fails_closed(live: str, read_key: str, app: Any, key: str) -> None:
    site, api_key, visitor = {
        "csk_wrong_key": ("demo", "csk_wrong_key", "01J00000000000000000000000"),
        "other-site": ("nosuchsite", read_key, "01J00000000000000000000000"),
        "bad-visitor-id": ("demo", read_key, "not-a-visitor-id"),
    }[key]
    answer = ConsentClient(live, site, api_key).visitor_consent(visitor)
    assert not answer.ok and answer.status == "unavailable"
    assert answer.granted == {"necessary"} and not answer.allows("analytics")
    assert answer.error.startswith("HTTP 4")


def test_a_refused_connection_fails_closed_at_once() -> None:
    client = ConsentClient(f"http://127.0.0.1:{free_port()}", "demo", "csk_x_y")
    started = time.monotonic()
    answer = client.verify_token("anything")
    assert time.monotonic() - started < 1
    assert answer.status == "unavailable" and answer.granted == {"necessary"}
    assert "no answer" in answer.error


def test_a_hanging_service_fails_closed_after_the_read_timeout() -> None:
    # A socket that listens (the kernel completes the handshake) but never reads or answers.
    with socket.socket() as hanging:
        hanging.bind(("127.0.0.1", 0))
        hanging.listen(8)
        port = hanging.getsockname()[1]
        client = ConsentClient(f"http://127.0.0.1:{port}", "demo", "csk_x_y", connect_timeout=0.3,
                               read_timeout=0.3)
        started = time.monotonic()
        answer = client.visitor_consent("01J00000000000000000000000")
        elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 1.5, elapsed
    assert answer.status == "unavailable" and answer.granted == {"necessary"}
    assert "Timeout" in answer.error


def test_the_guard_reads_declarations_and_keys_from_the_live_service(live: str, demo: Any,
                                                                     recorded: dict[str, Any]) -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        start_response("200 OK", [])
        return []

    guard = ConsentGuard(app, site_id="demo", service_url=live)
    try:
        rules = guard.rules
        assert rules is not None and rules.policy_version == demo.version
        assert rules.category_of("_ga_ABC") == "analytics" and rules.category_of("ad_id") == "marketing"
        assert guard.verifier is not None and guard.refresher.refresh() is True
        list(guard({"HTTP_COOKIE": f"consent={recorded['token']}"}, lambda *args: None))
        assert seen["consent.decision"].status == "valid"
    finally:
        guard.close()


def test_the_client_verifies_locally_with_public_keys(live: str, recorded: dict[str, Any], tmp_path: Any) -> None:
    """No API key and no secret: the service's JWKS (fetched once, ETag) or a JWKS file is enough."""
    with ConsentClient(live, "demo", keys="service") as client:
        answer = client.verify_token(recorded["token"], policy_version=1)
        assert answer.status == "valid" and answer.granted == {"necessary", "analytics"}
        assert client.verify_token(recorded["token"], policy_version=2).status == "outdated"
        assert client.verify_token(recorded["token"][:-2] + "xx").status == "invalid"
    jwks = tmp_path / "demo.jwks.json"
    jwks.write_bytes(urllib3.request("GET", f"{live}/v1/sites/demo/jwks.json").data)
    with ConsentClient(live, "demo", keys=jwks) as client:
        assert client.verify_token(recorded["token"]).status == "valid"
    down = ConsentClient(f"http://127.0.0.1:{free_port()}", "demo", keys="service")
    assert down.verify_token(recorded["token"]).status == "unavailable"
