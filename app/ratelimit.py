"""Rate limits kept in Redis: per AI provider (`RedisRateLimiter`) and on failed
sign-ins (`SignInLimits`).

The AI provider's limit is shared by every `ai` worker.

Two token buckets in one atomic Lua script: requests per minute and tokens per
minute. `acquire(tokens)` takes from both or from neither. A short wait is slept
out; a longer one raises `RateLimited` with `retry_after`, so the stage retries
later instead of holding a worker. A 429 from the service itself (`block`) closes
the gate for every worker until its Retry-After has passed.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

import redis
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.pipeline.errors import RateLimited

_log = logging.getLogger(__name__)

# KEYS: requests bucket, tokens bucket, block key. ARGV: now_ms, rpm, tpm, tokens.
# Returns 0 when admitted, else the milliseconds to wait.
_ACQUIRE = """
local now = tonumber(ARGV[1])
local blocked = tonumber(redis.call('GET', KEYS[3]) or '0')
if blocked > now then return blocked - now end
local function level(key, capacity)
  if capacity <= 0 then return nil end
  local state = redis.call('HMGET', key, 'level', 'at')
  local lvl = tonumber(state[1]) or capacity
  local at = tonumber(state[2]) or now
  lvl = math.min(capacity, lvl + (now - at) * capacity / 60000)
  return lvl
end
local function wait_for(lvl, need, capacity)
  if lvl == nil or lvl >= need then return 0 end
  return math.ceil((need - lvl) * 60000 / capacity)
end
local rpm, tpm, tokens = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local r = level(KEYS[1], rpm)
local t = level(KEYS[2], tpm)
local need_tokens = math.min(tokens, tpm > 0 and tpm or tokens)
local wait = math.max(wait_for(r, 1, rpm), wait_for(t, need_tokens, tpm))
if wait > 0 then return wait end
if r ~= nil then
  redis.call('HSET', KEYS[1], 'level', r - 1, 'at', now)
  redis.call('PEXPIRE', KEYS[1], 120000)
end
if t ~= nil then
  redis.call('HSET', KEYS[2], 'level', t - need_tokens, 'at', now)
  redis.call('PEXPIRE', KEYS[2], 120000)
end
return 0
"""


class RedisRateLimiter:
    def __init__(
        self,
        client: redis.Redis,
        provider: str,
        *,
        requests_per_minute: int,
        tokens_per_minute: int,
        max_sleep_s: float = 2.0,
    ) -> None:
        self.client = client
        self.keys = [f"ratelimit:{provider}:{name}" for name in ("requests", "tokens", "block")]
        self.rpm, self.tpm = requests_per_minute, tokens_per_minute
        self.max_sleep_s = max_sleep_s
        self._script = client.register_script(_ACQUIRE)

    def acquire(self, tokens: int) -> None:
        """Return once a request of `tokens` may go; raise RateLimited if that is far off."""
        while True:
            wait_ms = int(
                self._script(
                    keys=self.keys, args=[int(time.time() * 1000), self.rpm, self.tpm, tokens]
                )
            )
            if wait_ms <= 0:
                return
            if wait_ms / 1000 > self.max_sleep_s:
                raise RateLimited(
                    "the provider's shared rate limit is reached", retry_after=wait_ms / 1000
                )
            time.sleep(wait_ms / 1000)

    def block(self, seconds: float) -> None:
        """Hold every worker back for `seconds` (the service said Retry-After)."""
        until = int((time.time() + seconds) * 1000)
        self.client.set(self.keys[2], until, px=max(1, int(seconds * 1000)))


class SignInLimits:
    """Failed sign-ins counted per account and across the service, beside the per-address
    limit of every attempt (`app.web`, Flask-Limiter), in the same Redis (the `limits`
    library's moving windows; memory when the broker is not Redis).

    - Per account (the email, hashed: keys carry no address): after `per_account`
      failures within its window (default 10 in 15 minutes), that email's sign-in
      answers 429 until the oldest failure leaves the window; a right password clears
      the count. One client adds at most the per-address limit to it, and the lock ends
      minutes after the failures stop, so nobody is locked out for good.
    - Overall (default 100 failures a minute): caps password spraying, one guess at
      each of many accounts from many addresses, at a rate the whole service absorbs.

    A Redis outage admits sign-ins rather than locking everyone out (logged).
    """

    def __init__(self, storage_uri: str, *, per_account: str, overall: str) -> None:
        self._limiter = MovingWindowRateLimiter(
            storage_from_string(storage_uri, socket_connect_timeout=1, socket_timeout=2)
            if storage_uri.startswith("redis")
            else storage_from_string(storage_uri)
        )
        self.per_account, self.overall = parse_many(per_account), parse_many(overall)

    def _scopes(self, email: str) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        """The account's limits first, then the service's."""
        digest = hashlib.sha256(email.encode()).hexdigest()[:24]
        return [(item, ("sfp-signin", "account", digest)) for item in self.per_account] + [
            (item, ("sfp-signin", "all")) for item in self.overall
        ]

    def retry_after(self, email: str) -> int | None:
        """Seconds until a sign-in to `email` may be tried, or None if it may be now."""
        try:
            waits = [
                self._limiter.get_window_stats(item, *ids).reset_time - time.time()
                for item, ids in self._scopes(email)
                if not self._limiter.test(item, *ids)
            ]
        except (StorageError, redis.RedisError):
            _log.warning("sign-in limits unavailable: admitting the attempt")
            return None
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, email: str) -> None:
        """Count a failed sign-in to `email`."""
        try:
            for item, ids in self._scopes(email):
                self._limiter.hit(item, *ids)
        except (StorageError, redis.RedisError):
            _log.warning("sign-in limits unavailable: a failure went uncounted")

    def succeeded(self, email: str) -> None:
        """A right password: the account's failures are forgiven."""
        try:
            for item, ids in self._scopes(email)[: len(self.per_account)]:
                self._limiter.clear(item, *ids)
        except (StorageError, redis.RedisError):
            _log.warning("sign-in limits unavailable: failures not cleared")
