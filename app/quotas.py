"""How much work one account may start: uploads and reprocesses per window of time.

Each upload or reprocess a person asks for (from the API or the web app) takes one hit
from their account's allowance for that action (`UPLOAD_RATE_LIMIT`,
`REPROCESS_RATE_LIMIT`: "600 per hour", or "unlimited"); past it the request is refused
with 429 and how long to wait, and nothing is stored or queued. The counts live in the
broker's Redis (a sliding window, from the `limits` package). The allowance is a guard
against runaway clients, not a wall: while Redis is unreachable the count is skipped
(logged), because an accepted upload must not depend on the broker being up.
Operators' commands (the CLI) are not counted.
"""

from __future__ import annotations

import logging
import math
import time
import uuid

import limits
import limits.errors
import redis.exceptions
from flask import Flask, current_app

log = logging.getLogger(__name__)

# What a failed count can raise: the storage's own errors and the Redis client's.
_STORAGE_ERRORS = (limits.errors.StorageError, redis.exceptions.RedisError, OSError)


class QuotaExceeded(Exception):
    """The account has used its allowance for this action; `retry_after` is in seconds."""

    def __init__(self, action: str, retry_after: int) -> None:
        super().__init__(f"too many {action}s from this account; try again in {retry_after} s")
        self.action = action
        self.retry_after = retry_after


def limits_storage_uri(broker_url: str) -> str:
    """The limits library's name for the broker's Redis; memory for anything else."""
    if broker_url.startswith("redis+socket://"):
        return "redis+unix://" + broker_url.removeprefix("redis+socket://")
    if broker_url.startswith(("redis://", "rediss://")):
        return broker_url
    return "memory://"


class Quotas:
    def __init__(self, storage_uri: str, rates: dict[str, str]) -> None:
        storage = limits.storage.storage_from_string(
            storage_uri, socket_connect_timeout=1, socket_timeout=2
        )
        self._limiter = limits.strategies.SlidingWindowCounterRateLimiter(storage)
        self._rates = {
            action: limits.parse_many(rate) for action, rate in rates.items() if rate != "unlimited"
        }

    def take(self, action: str, account_id: uuid.UUID) -> None:
        """Count one `action` by the account; raise QuotaExceeded if past its allowance."""
        who = str(account_id)
        try:
            for rate in self._rates.get(action, ()):
                if not self._limiter.hit(rate, action, who):
                    reset_at = self._limiter.get_window_stats(rate, action, who).reset_time
                    raise QuotaExceeded(action, max(1, math.ceil(reset_at - time.time())))
        except _STORAGE_ERRORS as exc:
            log.warning("%s allowance not counted: %s", action, type(exc).__name__)


def quotas(app: Flask | None = None) -> Quotas:
    """The app's allowances, built on first use."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get("quotas")
    if found is None:
        settings = app.config["SETTINGS"]
        found = app.extensions["quotas"] = Quotas(
            limits_storage_uri(str(app.extensions["celery"].conf.broker_url)),
            {"upload": settings.upload_rate_limit, "reprocess": settings.reprocess_rate_limit},
        )
    return found


def take(action: str, account_id: uuid.UUID) -> None:
    """Count one `action` by `account_id` against the current app's allowance."""
    quotas().take(action, account_id)
