"""The interface of what admits requests to a remote model (`app.ratelimit` has the
Redis one the AI worker passes to `OpenAICompatProvider`)."""

from __future__ import annotations

from typing import Protocol


class RateLimiter(Protocol):
    """Admits requests to a remote model: `acquire(tokens)` returns when `tokens`
    (an estimate of the request's prompt and completion tokens) may be spent, or
    raises `RateLimited` when it will not wait."""

    def acquire(self, tokens: int) -> None: ...
