"""A rate limit per AI provider, shared by every `ai` worker through Redis.

Two token buckets in one atomic Lua script: requests per minute and tokens per
minute. `acquire(tokens)` takes from both or from neither. A short wait is slept
out; a longer one raises `RateLimited` with `retry_after`, so the stage retries
later instead of holding a worker. A 429 from the service itself (`block`) closes
the gate for every worker until its Retry-After has passed.
"""

from __future__ import annotations

import time

import redis

from app.pipeline.errors import RateLimited

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
