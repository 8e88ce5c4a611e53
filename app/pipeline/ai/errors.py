"""Errors of the AI lane beyond the pipeline's own (app/pipeline/errors.py).

Like every pipeline error, their messages are written here and never quote the
document or the model's output.
"""

from __future__ import annotations

from app.pipeline.ai.types import Usage
from app.pipeline.errors import PermanentError, PipelineError, RateLimited


def carrying(exc: PipelineError, usage: Usage) -> PipelineError:
    """`exc`, noting what the failed pass had sent to the model's service before it
    failed (`sent_before`), so the caller can audit a disclosure that did happen."""
    exc.usage = usage  # type: ignore[attr-defined]
    return exc


def sent_before(exc: BaseException) -> Usage | None:
    """What a failed pass had sent to the model's service (`carrying`), if known."""
    usage = getattr(exc, "usage", None)
    return usage if isinstance(usage, Usage) else None


class InvalidAIResponse(PermanentError):
    """The model's answer did not match the schema, even after one retry.

    `usage` is what the failed attempts cost, so the caller can still account for it.
    """

    error_type = "invalid_ai_response"

    def __init__(self, message: str, usage: Usage | None = None) -> None:
        super().__init__(message)
        self.usage = usage


class AIRequestRejected(PermanentError):
    """The model's service refused the request itself (HTTP 4xx other than 408/429):
    a wrong key, an unknown model, a request it cannot take. Retrying cannot help."""

    error_type = "ai_request_rejected"


class ProviderRateLimited(RateLimited):
    """HTTP 429 from the model's service; `retry_after` is in seconds when known."""
