"""Consent statistics per day and week: choices by method and opt-in rate per category."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.compliance import ALL, NONE, assert_refused, bearer, make_records

URL = "/v1/sites/demo/stats"
DAY = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def records(app, demo):
    make_records(app, 2, start=DAY)                                        # custom: analytics only
    make_records(app, 1, start=DAY + timedelta(hours=1), choices=ALL, method="accept_all")
    make_records(app, 1, start=DAY + timedelta(days=1), choices=NONE, method="reject_all")
    make_records(app, 1, start=DAY + timedelta(days=7), choices=ALL, method="accept_all")


def test_daily(app, client, records):
    response = client.get(URL + "?since=2025-03-03&until=2025-03-05", headers=bearer(app, "read"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["interval"] == "day" and len(body["intervals"]) == 2
    monday, tuesday = body["intervals"]
    assert monday["start"] == "2025-03-03T00:00:00.000000Z" and monday["total"] == 3
    assert monday["by_method"] == {"accept_all": 1, "reject_all": 0, "custom": 2, "withdraw": 0, "gpc": 0}
    assert monday["opt_in_rate"] == {"analytics": 1.0, "marketing": 0.3333, "preferences": 0.3333}
    assert tuesday["total"] == 1 and tuesday["opt_in_rate"]["analytics"] == 0.0


def test_weekly_and_empty_intervals(app, client, records):
    body = client.get(URL + "?since=2025-03-05&until=2025-03-24&interval=week",
                      headers=bearer(app, "read")).get_json()
    assert [i["start"][:10] for i in body["intervals"]] == ["2025-03-03", "2025-03-10", "2025-03-17"]
    assert [i["total"] for i in body["intervals"]] == [4, 1, 0]
    assert body["intervals"][2]["opt_in_rate"] == {}


def test_default_window_is_the_last_30_days(app, client, demo):
    make_records(app, 1, start=datetime.now(UTC) - timedelta(hours=1))
    body = client.get(URL, headers=bearer(app, "read")).get_json()
    assert len(body["intervals"]) in (30, 31) and sum(i["total"] for i in body["intervals"]) == 1


@pytest.mark.parametrize("query, code", [
    ("interval=month", "invalid_filter"), ("since=nope", "invalid_filter"),
    ("since=0001-01-01T00:00:00%2B01:00", "invalid_filter"), ("until=9999-12-31T23:59:59-01:00", "invalid_filter"),
    ("since=2025-02-01&until=2025-01-01", "invalid_range"), ("since=1990-01-01&until=2025-01-01", "range_too_large"),
    ("group=day", "unknown_parameter"), ("interval=%00", "invalid_filter"),
])
def test_bad_parameters(app, client, demo, query, code):
    assert_refused(client, f"{URL}?{query}", bearer(app, "read"), code)


def test_needs_a_read_key(app, client, demo):
    assert client.get(URL).status_code == 401
    assert client.get(URL, headers=bearer(app, "export")).status_code == 403
    assert client.get(URL, headers=bearer(app, "admin")).status_code == 200
