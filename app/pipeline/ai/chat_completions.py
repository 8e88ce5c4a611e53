"""The wire of a remote model: one question to an OpenAI-compatible chat-completions
service, asked at most twice, answered with JSON that fits a schema.

The request has `response_format={"type": "json_schema", "json_schema": {...,
"strict": true}}` and temperature 0. A timeout (or HTTP 408) is `AITimeout`; HTTP
429 is `ProviderRateLimited` with `retry_after` from the Retry-After header; HTTP
5xx and connection errors are `ApiError`; other HTTP 4xx, and a base URL that is no
URL, is `AIRequestRejected`. An answer that is not JSON or does not fit the schema
is asked for once more, then raises `InvalidAIResponse` (with the usage spent on it).
Each request's `usage` tokens are counted and priced per 1k tokens, and the characters
it sent are counted (the caller audits what left for the service).
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import logging
import math
import time
from typing import Any

import httpx

from app.pipeline import budget
from app.pipeline.ai.errors import (
    AIRequestRejected,
    InvalidAIResponse,
    ProviderRateLimited,
    carrying,
)
from app.pipeline.ai.rate_limiter import RateLimiter
from app.pipeline.ai.schemas import SchemaMismatch, check
from app.pipeline.ai.types import Usage
from app.pipeline.budget import BudgetExceeded
from app.pipeline.errors import AITimeout, ApiError, PipelineError, RateLimited

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Answer:
    data: Any
    usage: Usage


class ChatCompletions:
    """One model behind an OpenAI-compatible `POST {base_url}/chat/completions`, asked for
    JSON that fits a schema (`ask`); `provider` names the provider in each `Usage`."""

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        api_key: str,
        model: str,
        prices: tuple[float, float],
        timeout: float,
        max_tokens: int,
        rate_limiter: RateLimiter | None,
        client: httpx.Client | None,
    ) -> None:
        self.provider = provider
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.prices = prices
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.rate_limiter = rate_limiter
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._own_client = client is None
        self._client = client or httpx.Client(timeout=timeout)

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    def no_usage(self) -> Usage:
        return Usage(self.provider, self.model)

    def ask(self, name: str, schema: dict[str, Any], system: str, user: str) -> Answer:
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "temperature": 0,
            "max_tokens": self.max_tokens,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": True},
            },
        }
        usage = self.no_usage()
        characters = len(system) + len(user)
        most = self._spend(math.ceil(characters / 4), self.max_tokens)
        run = budget.current()  # the document's run budget, if its task set one
        for attempt in (1, 2):
            try:
                if run is not None:  # before the rate limit: a refused request takes no turn
                    run.reserve(most)
                reply = self._post(body, most.tokens)
            except BudgetExceeded as exc:  # nothing sent; what went before is carried
                carrying(exc, usage)
                raise
            except PipelineError as exc:
                if _reached_service(exc):
                    usage += Usage(self.provider, self.model, 1, characters_sent=characters)
                    if run is not None:  # it may have been charged: count the most
                        run.record(most)
                carrying(exc, usage)
                raise
            used = self._usage_of(reply, characters)
            usage += used
            if run is not None:  # a reply that reports no usage counts as the most
                spent = used.prompt_tokens + used.completion_tokens
                run.record(budget.Spend(spent, used.cost_usd) if spent else most)
            try:
                return Answer(_content(reply, schema), usage)
            except SchemaMismatch as exc:
                log.warning(
                    "the model's %s answer did not fit its schema (attempt %d): %s",
                    name,
                    attempt,
                    exc,
                )
        raise InvalidAIResponse(f"the model's {name} answer did not fit its schema, twice", usage)

    def _post(self, body: dict[str, Any], most_tokens: int) -> dict[str, Any]:
        if self.rate_limiter is not None:
            self.rate_limiter.acquire(most_tokens)
        try:
            response = self._client.post(
                self.url, json=body, headers=self._headers, timeout=self.timeout
            )
        except httpx.TimeoutException as exc:
            raise AITimeout(f"the model service did not answer within {self.timeout:g} s") from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise AIRequestRejected("the model service's base URL is not a usable URL") from exc
        except httpx.TransportError as exc:
            raise ApiError(f"could not reach the model service ({type(exc).__name__})") from exc
        _raise_for_status(response)
        try:
            reply = response.json()
        except ValueError:
            reply = None
        return reply if isinstance(reply, dict) else {}

    def _spend(self, prompt_tokens: int, completion_tokens: int) -> budget.Spend:
        cost = prompt_tokens / 1000 * self.prices[0] + completion_tokens / 1000 * self.prices[1]
        return budget.Spend(prompt_tokens + completion_tokens, cost)

    def _usage_of(self, reply: dict[str, Any], characters: int) -> Usage:
        raw = reply.get("usage")
        counts: dict[str, Any] = raw if isinstance(raw, dict) else {}
        prompt = _count(counts.get("prompt_tokens"))
        completion = _count(counts.get("completion_tokens"))
        cost = prompt / 1000 * self.prices[0] + completion / 1000 * self.prices[1]
        return Usage(self.provider, self.model, 1, prompt, completion, round(cost, 8), characters)


# The request never left this machine: no connection, or no usable URL.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.InvalidURL,
)


def _reached_service(exc: PipelineError) -> bool:
    """Whether a failed request had been sent: not when the shared rate limiter held it
    back or no connection was made; yes for an HTTP error or a timeout waiting for it."""
    if isinstance(exc, RateLimited) and not isinstance(exc, ProviderRateLimited):
        return False
    return not isinstance(exc.__cause__, _NOT_SENT)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    if status == 429:
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        raise ProviderRateLimited("the model service is rate limiting (HTTP 429)", retry_after)
    if status == 408:
        raise AITimeout("the model service timed out the request (HTTP 408)")
    if status >= 500:
        raise ApiError(f"the model service failed (HTTP {status})")
    raise AIRequestRejected(f"the model service refused the request (HTTP {status})")


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _content(reply: dict[str, Any], schema: dict[str, Any]) -> Any:
    """The parsed JSON answer of a chat completion; SchemaMismatch if there is none."""
    choices = reply.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise SchemaMismatch("the reply has no choices")
    choice = choices[0]
    raw = choice.get("message")
    message: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if message.get("refusal"):
        raise SchemaMismatch("the model refused")
    if choice.get("finish_reason") == "length":
        raise SchemaMismatch("the answer was cut off at the token limit")
    content = message.get("content")
    if not isinstance(content, str):
        raise SchemaMismatch("the reply has no content")
    try:
        data = json.loads(content)
    except ValueError:
        raise SchemaMismatch("the answer is not JSON") from None
    check(schema, data)
    return data
