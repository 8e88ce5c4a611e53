"""Keeping document content out of logs.

Celery logs a failed task with its exception's message and traceback. Our own errors
carry messages written by this project; a library's exception may quote what it choked
on (a value from the document, a parsed string). `WithholdForeignDetails` rewrites such
a record so it names the exception's class and shows the traceback's frames, but not
the message.
"""

from __future__ import annotations

import logging
import traceback

from app.pipeline.errors import PipelineError

WITHHELD = "(details withheld: they may quote document data)"


def _safe_name(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__} {WITHHELD}"


class WithholdForeignDetails(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or isinstance(exc, PipelineError):
            return True
        frames = "".join(traceback.format_tb(exc.__traceback__))
        record.exc_text = f"Traceback (most recent call last):\n{frames}{_safe_name(exc)}"
        if isinstance(record.args, dict) and "exc" in record.args:
            record.args = {**record.args, "exc": _safe_name(exc)}
        return True


def withhold_foreign_details(*logger_names: str) -> None:
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, WithholdForeignDetails) for f in logger.filters):
            logger.addFilter(WithholdForeignDetails())
