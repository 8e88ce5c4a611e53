"""Keeping document content out of logs.

Celery logs a failed task with its exception's message and traceback, Flask an error
in a view, SQLAlchemy a statement with its parameters. Our own errors carry messages
written by this project; a library's exception may quote what it choked on (a value
from the document, a parsed string, a form field). Such a record is rewritten so it
names the exception's class and shows the traceback's frames, but not the message.

`withhold_foreign_details()` does this where every log record is made (the logging
module's record factory), so it holds for every logger (flask.app, celery, sqlalchemy,
werkzeug, gunicorn, ours) and every handler, including the ones Celery's worker and
gunicorn put in place after the app is built: a filter on a handler would miss those.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, TypeGuard

from app.pipeline.errors import PipelineError

WITHHELD = "(details withheld: they may quote document data)"


def _safe_name(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__} {WITHHELD}"


def _foreign(value: object) -> TypeGuard[BaseException]:
    return isinstance(value, BaseException) and not isinstance(value, PipelineError)


def withhold(record: logging.LogRecord) -> logging.LogRecord:
    """Rewrite `record` so no foreign exception's message reaches a handler: its
    traceback keeps the frames and ends with the class name; an exception passed as the
    message or as an argument is replaced by its class name."""
    exc = record.exc_info[1] if record.exc_info else None
    if _foreign(exc):
        frames = "".join(traceback.format_tb(exc.__traceback__))
        record.exc_text = f"Traceback (most recent call last):\n{frames}{_safe_name(exc)}"
        if isinstance(record.args, dict):
            # Celery's failure line carries the exception's repr and traceback as text,
            # in a dict it also keeps as the record's `data`: changed in place for both.
            for key in ("exc", "traceback"):
                if key in record.args:
                    record.args[key] = _safe_name(exc)
    if _foreign(record.msg):
        record.msg = _safe_name(record.msg)
    if isinstance(record.args, tuple) and any(_foreign(value) for value in record.args):
        record.args = tuple(_safe_name(v) if _foreign(v) else v for v in record.args)
    return record


class _WithholdingFactory:
    """The logging module's record factory, with `withhold` applied to what it makes."""

    def __init__(self, make: Any) -> None:
        self.make = make

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        return withhold(self.make(*args, **kwargs))


def withhold_foreign_details() -> None:
    """Apply `withhold` to every log record this process makes (idempotent)."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _WithholdingFactory):
        logging.setLogRecordFactory(_WithholdingFactory(factory))
