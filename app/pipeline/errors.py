"""The failures a stage can raise, and how each one is retried and recorded.

Every error carries an `error_type` (the `processing_errors.error_type` it is
filed under) and a message written by this project, never text taken from a
document: error rows and logs must not carry patient content.

`TRANSIENT_ERRORS` is the declared family that every stage retries with
exponential backoff; anything else fails the stage at once.
"""

from __future__ import annotations

import socket

import kombu.exceptions
import redis.exceptions
import sqlalchemy.exc
from celery.exceptions import SoftTimeLimitExceeded

from app.storage import StorageError


class PipelineError(Exception):
    """Base of the errors stages raise on purpose."""

    error_type = "internal_error"
    #: A refused file ends `quarantined` rather than `failed`, and no later stage reads it.
    quarantine = False


class TransientError(PipelineError):
    """Worth trying again later: a timeout, a rate limit, a service that is down."""


class PermanentError(PipelineError):
    """Trying again cannot help: bad input, or a file the security scan refuses."""


class StageNotBuilt(PermanentError):
    error_type = "stage_not_implemented"

    def __init__(self, stage: str) -> None:
        super().__init__(f"the {stage} stage is not built yet")


class SecurityRejected(PermanentError):
    error_type = "security_rejected"
    quarantine = True

    def __init__(self, message: str, error_type: str = "security_rejected") -> None:
        super().__init__(message)
        self.error_type = error_type


class AITimeout(TransientError):
    error_type = "ai_timeout"


class ApiError(TransientError):
    error_type = "api_error"


class RateLimited(TransientError):
    """Told to slow down; `retry_after` (seconds) says when to try again, if known."""

    error_type = "rate_limited"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientStorageError(TransientError):
    error_type = "storage_error"


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    StorageError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
    ConnectionError,
    TimeoutError,
    socket.timeout,
    SoftTimeLimitExceeded,
)

_FOREIGN_TYPES: tuple[tuple[type[BaseException], str], ...] = (
    (StorageError, "storage_error"),
    (sqlalchemy.exc.SQLAlchemyError, "database_error"),
    (redis.exceptions.RedisError, "broker_error"),
    (kombu.exceptions.KombuError, "broker_error"),
    (SoftTimeLimitExceeded, "stage_timeout"),
    (TimeoutError, "timeout"),
    (ConnectionError, "connection_error"),
)


def describe(exc: BaseException) -> tuple[str, str]:
    """Return (error_type, message) for an error row, free of document content.

    Our own errors carry messages we wrote. A library's message may quote the
    data it choked on (a SQL parameter, a parsed string), so only the exception's
    class is kept.
    """
    if isinstance(exc, PipelineError):
        return exc.error_type, str(exc)[:1000]
    name = f"{type(exc).__module__}.{type(exc).__qualname__}"
    for family, error_type in _FOREIGN_TYPES:
        if isinstance(exc, family):
            return error_type, f"{name} (details withheld: they may quote document data)"
    return "internal_error", f"{name} (details withheld: they may quote document data)"


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT_ERRORS) and not isinstance(exc, PermanentError)
