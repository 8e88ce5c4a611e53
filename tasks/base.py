"""The task base every stage shares: retries, error rows, heartbeats, at-least-once claims.

A stage task is one line: `return run_stage(self, job_id, work)`. `run_stage`
claims the job under a row lock (or skips a stage that is already done, or stops
a chain that must not go on), keeps the job's heartbeat fresh while `work` runs,
and marks the stage complete in the same transaction as its output.

Failures are filed by `StageTask.__call__`, around Celery's autoretry: a `Retry`
becomes a row with its `retry_count` and `next_retry_at`; any other exception is
final (a permanent error at once, a transient one once its retries are spent).
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import Ignore, Retry
from flask import current_app
from sqlalchemy.orm import Session

import celeryconfig
from app import jobs
from app.celery_app import AppContextTask
from app.db import Database, get_db
from app.pipeline.errors import TRANSIENT_ERRORS, PermanentError
from app.storage import Blobs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageContext:
    """What a stage's work gets: ids and where to read its input, never ORM objects."""

    claim: jobs.Claim
    db: Database
    blobs: Blobs

    def read_original(self, session: Session) -> Iterator[bytes]:
        return self.blobs.read(session, self.claim.storage_key)


Save = Callable[[Session], None]
Work = Callable[[StageContext], Save]
"""A stage's work computes outside any transaction and returns how to save its output;
the output is saved in the same transaction that marks the stage complete."""


class StageTask(AppContextTask):
    abstract = True
    autoretry_for = TRANSIENT_ERRORS
    dont_autoretry_for = (PermanentError,)
    retry_backoff = celeryconfig.stage_retry_backoff
    retry_backoff_max = celeryconfig.stage_retry_backoff_max
    retry_jitter = False
    max_retries = celeryconfig.stage_max_retries
    acks_late = True
    reject_on_worker_lost = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Ignore:
            raise
        except Retry as retry:
            self._file_failure(kwargs, retry.exc, final=False, when=retry.when)
            raise
        except Exception as exc:
            self._file_failure(kwargs, exc, final=True, when=None)
            raise

    def _file_failure(
        self, kwargs: dict[str, Any], exc: BaseException | None, *, final: bool, when: Any
    ) -> None:
        """Write the error row. Bookkeeping must never mask the failure it records."""
        if exc is None or "job_id" not in kwargs:
            return
        next_retry_at = None
        if not final:
            seconds = (
                when.timestamp() - jobs.now().timestamp() if isinstance(when, datetime) else when
            )
            next_retry_at = jobs.now() + timedelta(seconds=float(seconds or 0))
        try:
            with self._flask_context(), get_db().session() as session:
                jobs.record_failure(
                    session,
                    uuid.UUID(kwargs["job_id"]),
                    exc,
                    retry_count=self.request.retries + (0 if final else 1),
                    next_retry_at=next_retry_at,
                    final=final,
                    worker_id=worker_id(self),
                )
        except Exception:  # bookkeeping must never mask the real failure
            log.exception("could not record the failure of job %s", kwargs.get("job_id"))

    @contextmanager
    def _flask_context(self) -> Iterator[None]:
        from app.celery_app import flask_app_of

        with flask_app_of(self.app).app_context():
            yield


def worker_id(task: Any) -> str:
    return f"{task.request.hostname or 'local'}:{os.getpid()}"


class Heartbeat:
    """Keeps a running job's `heartbeat_at` fresh from a background thread."""

    def __init__(self, db: Database, job_id: uuid.UUID, interval: float) -> None:
        self.db, self.job_id, self.interval = db, job_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with self.db.session() as session:
                    jobs.heartbeat(session, self.job_id)
            except Exception:  # noqa: BLE001 - a missed beat is tolerable; reclaim has slack
                log.warning("heartbeat for job %s failed", self.job_id)


def run_stage(task: Any, job_id: str, work: Work) -> str | None:
    """Claim the job, run `work` with a heartbeat, and complete the stage atomically."""
    settings = current_app.config["SETTINGS"]
    db = get_db()
    dispatcher = current_app.extensions["dispatcher"]
    job_uuid = uuid.UUID(job_id)
    with db.session() as session:
        claim = jobs.begin_stage(
            session,
            job_uuid,
            worker_id=worker_id(task),
            stale_after=timedelta(seconds=settings.stale_after_s),
        )
    if claim.action is jobs.Action.STOP:
        log.info("job %s: %s; the chain stops here", job_id, claim.reason)
        task.request.chain = None
        return None
    if claim.action is jobs.Action.SKIP:
        log.info("job %s: %s", job_id, claim.reason)
        return str(claim.shell_file_id)
    context = StageContext(claim=claim, db=db, blobs=current_app.extensions["blobs"])
    with Heartbeat(db, job_uuid, settings.heartbeat_interval_s):
        save = work(context)
        with db.session() as session:
            save(session)
            jobs.complete_stage(session, job_uuid, epoch=_epoch_or_none(dispatcher))
    return str(claim.shell_file_id)


def _epoch_or_none(dispatcher: Any) -> str | None:
    try:
        return str(dispatcher.epoch())
    except Exception:  # noqa: BLE001 - the relay republishes a job whose epoch is unknown
        return None
