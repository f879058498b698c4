"""Rate limits on writes, per desensitized address and route: fixed windows counted in Redis, so
every process of the service shares them, and in this process's memory while Redis is absent or
failing (a limit is never a reason for an error).

Every window of a limit string (`60/minute;600/hour`) is counted in one Lua script, so a write
costs one Redis round trip whatever the number of windows. This replaced Flask-Limiter on the hot
routes: its per-request bookkeeping (limit resolution, exemption scopes, context lookups, one
round trip per window) cost more CPU than recording the choice in PostgreSQL.
"""

from __future__ import annotations

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from .redis_store import RedisStore

#: KEYS[i] the counter of window i; ARGV[2i-1] its limit, ARGV[2i] its length in seconds. Every
#: window counts the hit (as Flask-Limiter's fixed windows did); 1 if all are within their limit.
HIT_ALL = """
local allowed = 1
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then
    redis.call('EXPIRE', key, ARGV[2 * i])
  end
  if count > tonumber(ARGV[2 * i - 1]) then
    allowed = 0
  end
end
return allowed
"""


class RateLimiter:
    """`hit(scope, key)`: count one request of `key` (a desensitized address) on `scope` (a route)
    and say whether every window still allows it."""

    def __init__(self, limits: str, store: RedisStore, enabled: bool = True) -> None:
        self.items: list[RateLimitItem] = list(parse_many(limits))
        self.enabled = enabled
        self.store = store
        self._script = store.script(HIT_ALL)
        self._fallback: FixedWindowRateLimiter | None = None  # made on first use: its storage starts a timer thread
        self._arguments: list[int] = [n for item in self.items for n in (item.amount, item.get_expiry())]

    def _keys(self, scope: str, key: str) -> list[str]:
        return [self.store.key("limit", scope, key, item.amount, item.multiples, item.GRANULARITY.name)
                for item in self.items]

    def hit(self, scope: str, key: str) -> bool:
        """True when the request may go on. Redis counts it when it answers (read back-off applies:
        after a failure, this process counts in memory for a moment instead of waiting on Redis)."""
        if not self.enabled:
            return True
        keys = self._keys(scope, key)
        result = self._script(lambda _run_id: (len(keys), *keys, *self._arguments), False)
        if result is not None:
            return result[1] == 1
        if self._fallback is None:
            self._fallback = FixedWindowRateLimiter(MemoryStorage())
        fallback = self._fallback
        return all([fallback.hit(item, scope, key) for item in self.items])  # count every window
