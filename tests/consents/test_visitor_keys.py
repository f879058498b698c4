"""Visitor keys at rest: wrapped under the service's secrets and bound to their visitor; keys from
before wrapping are read, explicitly, until `consent-service keys rewrap` wraps them; a rotation
re-wraps under the newest secret."""

from __future__ import annotations

import sqlalchemy as sa

from consent_service.cli import main
from consent_service.consents.visitor_keys import is_legacy, open_key
from consent_service.crypto import new_key
from consent_service.extensions import db
from tests.support import TEST_ENV, services
from tests.support.compliance import make_records


def stored_keys(app):
    with app.app_context():
        rows = db.session.execute(sa.text("SELECT visitor_id, key FROM visitor_keys ORDER BY visitor_id")).all()
        db.session.rollback()
        return {visitor: bytes(key) for visitor, key in rows}


def test_keys_are_wrapped_and_bound_to_their_visitor(app, demo):
    made = make_records(app, 2)
    keys = stored_keys(app)
    ring = services(app).keyring
    one, other = made[0].visitor_id, made[1].visitor_id
    assert not is_legacy(keys[one]) and open_key(ring, "demo", one, keys[one]) is not None
    assert open_key(ring, "demo", other, keys[one]) is None  # copied to another row, it opens nothing
    assert open_key(ring, "other", one, keys[one]) is None


def test_legacy_keys_work_until_rewrapped_and_rotation_rewraps(app, demo, make_app):
    made = make_records(app, 2)
    legacy = new_key()
    visitor = made[0].visitor_id
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text("UPDATE visitor_keys SET key = :key WHERE visitor_id = :v"),
                           {"key": legacy, "v": visitor})
    # A returning visitor with a legacy key is still served: its new record is under the same key.
    make_records(app, 1, token=made[0].token)
    assert stored_keys(app)[visitor] == legacy
    runner = app.test_cli_runner()
    result = runner.invoke(main, ["keys", "rewrap"])
    assert result.exit_code == 0 and "rewrapped 1 visitor keys" in result.output
    wrapped = stored_keys(app)[visitor]
    assert not is_legacy(wrapped) and open_key(services(app).keyring, "demo", visitor, wrapped) == legacy
    assert "rewrapped 0" in runner.invoke(main, ["keys", "rewrap"]).output

    rotated = make_app(SECRET_KEYS="a-brand-new-secret-0123456789abcdef," + TEST_ENV["SECRET_KEYS"])
    result = rotated.test_cli_runner().invoke(main, ["keys", "rewrap"])
    assert result.exit_code == 0 and "rewrapped 2 visitor keys" in result.output
    dropped = make_app(SECRET_KEYS="a-brand-new-secret-0123456789abcdef")
    assert open_key(services(dropped).keyring, "demo", visitor, stored_keys(app)[visitor]) == legacy
    # A key that no configured secret opens is reported, and the command fails.
    stranger = make_app(SECRET_KEYS="a-secret-that-wrapped-nothing-0123456789")
    failed = stranger.test_cli_runner().invoke(main, ["keys", "rewrap"])
    assert failed.exit_code == 1 and "2 visitor keys open with no configured secret" in failed.output


def test_a_key_that_does_not_open_records_the_choice_without_personal_fields(app, demo):
    """A changed key row (or a secret dropped too early) must not stop recording, nor put new
    personal fields under a key nobody keeps: the choice is recorded without them."""
    first = make_records(app, 1)[0]
    with app.app_context(), db.engine.begin() as connection:
        stored = connection.execute(sa.text("SELECT key FROM visitor_keys WHERE visitor_id = :v"),
                                    {"v": first.visitor_id}).scalar()
        connection.execute(sa.text("UPDATE visitor_keys SET key = :key WHERE visitor_id = :v"),
                           {"key": bytes(stored)[:-1] + bytes([bytes(stored)[-1] ^ 1]), "v": first.visitor_id})
    again = make_records(app, 1, token=first.token)[0]
    assert again.visitor_id == first.visitor_id
    with app.app_context():
        row = db.session.execute(sa.text("SELECT user_agent, page_url, user_agent_digest FROM consent_records "
                                         "WHERE id = :id"), {"id": again.record_id}).one()
        assert tuple(row) == (None, None, None)
