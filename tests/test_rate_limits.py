"""Write rate limits: every window counted in one Redis script, shared by every limiter on the same
Redis, per route and address, and counted in memory while Redis is absent or gone."""

from __future__ import annotations

import secrets

from consent_service.rate_limits import RateLimiter
from consent_service.redis_store import RedisStore


def _store(url: str | None) -> RedisStore:
    return RedisStore(url, prefix=f"cs-test-rate-{secrets.token_hex(4)}:")


def test_every_window_counts_and_the_tightest_refuses(redis_url):
    limiter = RateLimiter("3/minute;5/hour", _store(redis_url))
    assert [limiter.hit("post_consent", "ip") for _ in range(4)] == [True, True, True, False]
    assert limiter.hit("post_consent", "other ip") and limiter.hit("check_token", "ip")


def test_limiters_on_one_redis_share_their_counts(redis_url):
    store = _store(redis_url)
    first, second = RateLimiter("2/minute", store), RateLimiter("2/minute", RedisStore(redis_url, prefix=store.prefix))
    assert [first.hit("post_consent", "ip"), second.hit("post_consent", "ip"), second.hit("post_consent", "ip")] \
        == [True, True, False]


def test_one_redis_round_trip_whatever_the_number_of_windows(redis_url):
    store = _store(redis_url)
    limiter = RateLimiter("60/minute;600/hour;6000/day", store)
    sent = []
    run = store.run
    store.run = lambda command, write: sent.append(command) or run(command, write)  # type: ignore[method-assign]
    assert limiter.hit("post_consent", "ip")
    assert len(sent) == 1


def test_without_redis_or_when_it_stops_the_count_goes_on_in_memory(private_redis):
    alone = RateLimiter("2/minute", _store(None))
    assert [alone.hit("s", "ip") for _ in range(3)] == [True, True, False]

    url, process = private_redis
    limiter = RateLimiter("2/minute", _store(url))
    assert limiter.hit("s", "ip")
    process.kill()
    process.wait(timeout=5)
    assert [limiter.hit("s", "ip") for _ in range(3)] == [True, True, False]  # memory starts from zero


def test_switched_off_for_the_benchmark_it_allows_everything(redis_url):
    limiter = RateLimiter("1/minute", _store(redis_url), enabled=False)
    assert all(limiter.hit("s", "ip") for _ in range(3))
