"""What a stage's failure is: worth another try, or final; and what its error row says.

`TRANSIENT_ERRORS` is the declared family that every stage retries with exponential
backoff (`tasks/base.py` gives it to `autoretry_for`); anything else fails the stage at
once. It names the pipeline's own `TransientError` beside the libraries' errors of the
database, the broker and the blob store, which the pure stages under `app/pipeline/`
never see. A soft time limit is final.

`describe` gives an error row its `error_type` and a message written by this project,
never text taken from a document: error rows and logs must not carry patient content.
"""

from __future__ import annotations

import socket

import kombu.exceptions
import redis.exceptions
import sqlalchemy.exc
from celery.exceptions import SoftTimeLimitExceeded

from app.pipeline.errors import PipelineError, TransientError
from app.storage import StorageError

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
)
# Not transient: a stage that ran past its soft time limit once will again on the same
# file (a poison document), and each retry would hold a worker for the whole limit. It
# fails at once, filed as `stage_timeout`.

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
