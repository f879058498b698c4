"""Helpers for the compliance tests (exports, proof, retention, visitors' data, stats, access log)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from consent_service.auth import create_key
from consent_service.compliance.seals import seal_pending
from consent_service.consents.recording import Choice
from consent_service.extensions import db
from tests.support import DEMO_ORIGIN, services

CHOICES = {"necessary": True, "preferences": False, "analytics": True, "marketing": False}
ALL = {"necessary": True, "preferences": True, "analytics": True, "marketing": True}
NONE = {"necessary": True, "preferences": False, "analytics": False, "marketing": False}
FUTURE = datetime.now(UTC) + timedelta(hours=1)


def bearer(app: Any, scope: str, site: str = "demo") -> dict[str, str]:
    with app.app_context():
        return {"Authorization": f"Bearer {create_key(db.session, site, scope)[1]}"}


def post(client: Any, consent_body: Any, **changes: Any) -> dict[str, Any]:
    response = client.post("/v1/sites/demo/consents", json=consent_body(**changes),
                           headers={"Origin": DEMO_ORIGIN, "User-Agent": "Mozilla/5.0 test"})
    assert response.status_code in (200, 201), response.get_json()
    body = response.get_json()
    response.close()  # as a WSGI server would: runs the after-response work (automatic sealing)
    return body


def make_records(app: Any, count: int, *, start: datetime | None = None, step: timedelta = timedelta(minutes=1),
                 choices: dict[str, bool] | None = None, method: str = "custom", token: str | None = None,
                 page_url: str | None = f"{DEMO_ORIGIN}/products?x=1", user_agent: str | None = "UA/1.0",
                 site: str = "demo") -> list[Any]:
    """Record `count` choices directly through the domain function, `step` apart from `start`."""
    start = start or datetime.now(UTC) - timedelta(days=1)
    made = []
    with app.app_context():
        shared = services(app)
        state = shared.site_states.get(db.session, site)
        for index in range(count):
            made.append(shared.record(db.session, state, Choice(
                policy_version=state.version, choices=dict(choices or CHOICES), method=method,
                token=token, page_url=page_url, user_agent=user_agent, ip_hash="ab" * 32,
                banner_version="t"), now=start + step * index))
    return made


def seal_all(app: Any, site: str = "demo", batch_size: int | None = None, now: datetime = FUTURE) -> list[Any]:
    with app.app_context():
        settings = services(app).settings
        seals = seal_pending(db.session, site, batch_size or settings.seal_batch_size,
                             settings.seal_max_age_seconds, services(app).seal_signer, now=now, force=True)
        return [(seal.id, seal.record_count) for seal in seals]


def sql(app: Any, statement: str, **params: Any) -> Any:
    with app.app_context(), db.engine.begin() as connection:
        return connection.execute(sa.text(statement), params)


def record_ids(app: Any) -> list[str]:
    with app.app_context():
        return list(db.session.execute(sa.text("SELECT id FROM consent_records ORDER BY id")).scalars())


def assert_refused(client: Any, url: str, headers: dict[str, str], code: str) -> None:
    """A 4xx JSON answer with the stable error code `code`."""
    response = client.get(url, headers=headers)
    assert 400 <= response.status_code < 500 and response.get_json()["error"]["code"] == code, response.get_json()


def check(app: Any, site: str = "demo", expect_head: str | None = None) -> Any:
    """Verify a site with the app's published seal keys (no access-log entry)."""
    from consent_service.compliance.verify import check_site

    with app.app_context():
        return check_site(db.session, site, services(app).seal_signer.verifier, expect_head=expect_head)
