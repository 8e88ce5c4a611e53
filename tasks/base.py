"""The task base every stage shares: retries, error rows, heartbeats, at-least-once claims.

A stage task is one line: `return run_stage(self, job_id, work)`. `run_stage`
claims the job under a row lock (or skips a stage that is already done or must not
run), keeps the job's heartbeat fresh while `work` runs, marks the stage complete in
the same transaction as its output (which queues the next stage's job) and, once that
has committed, publishes the next job.

A stage too big for one worker hands off (`Handoff`): it publishes batch tasks
and leaves its job running; the batches (`run_batch`) keep its heartbeat, save
their part, and the last one to finish completes the stage and publishes the next.

Failures are filed by `StageTask.__call__`, around Celery's autoretry: a `Retry`
becomes a row with its `retry_count` and `next_retry_at`; any other exception is
final (a permanent error at once, a transient one once its retries are spent).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from celery.exceptions import Ignore, Reject, Retry
from celery.utils.time import get_exponential_backoff_interval
from flask import current_app
from sqlalchemy.orm import Session

import celeryconfig
from app.celery_app import AppContextTask, flask_app_of
from app.config import Settings
from app.db import Database, get_db
from app.pipeline.budget import DocumentBudget
from app.pipeline.errors import PermanentError, PipelineError
from app.runs import claims, completion, states
from app.runs.failures import TRANSIENT_ERRORS
from app.storage import Blobs, local_copy_path

log = logging.getLogger(__name__)

# Local copies of blobs kept by a worker for its stages (a 100-page scan is read by
# many batches); older ones are removed.
LOCAL_COPY_MAX_AGE_S = 3600


@dataclass(frozen=True)
class StageContext:
    """What a stage's work gets: ids and where to read its input, never ORM objects."""

    claim: claims.Claim
    db: Database
    blobs: Blobs
    settings: Settings
    task: Any

    @property
    def shell_file_id(self) -> uuid.UUID:
        assert self.claim.shell_file_id is not None
        return self.claim.shell_file_id

    def local_copy(self, storage_key: str | None = None) -> Path:
        """A file on this machine holding the blob (the original by default)."""
        return local_copy(self.db, self.blobs, self.settings, storage_key or self.claim.storage_key)

    @property
    def budget(self) -> DocumentBudget:
        """What this document may cost (`app.pipeline.budget`), from the settings."""
        settings = self.settings
        return DocumentBudget(
            max_characters=settings.max_document_characters,
            max_pixels=settings.max_document_pixels,
            max_tokens=settings.max_run_tokens,
            max_cost_usd=settings.max_run_cost_usd,
        )


Save = Callable[[Session], None]


@dataclass(frozen=True)
class Handoff:
    """The stage goes on in batch tasks (`publish` sends them); the last batch completes it."""

    publish: Callable[[], None]
    lease_s: float


Work = Callable[[StageContext], "Save | Handoff"]
"""A stage's work computes outside any transaction and returns how to save its output;
the output is saved in the same transaction that marks the stage complete."""


def local_copy(db: Database, blobs: Blobs, settings: Settings, key: str) -> Path:
    path = local_copy_path(settings.data_dir, key)
    cache = path.parent
    cache.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.touch()
        return path
    partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        with db.session() as session, partial.open("wb") as out:
            for chunk in blobs.read(session, key):
                out.write(chunk)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    _prune(cache)
    return path


def _prune(cache: Path) -> None:
    cutoff = time.time() - LOCAL_COPY_MAX_AGE_S
    for entry in cache.iterdir():
        try:
            if entry.stat().st_mtime < cutoff:
                entry.unlink(missing_ok=True)
        except FileNotFoundError:
            continue


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
    #: A batch shares its stage's job: a retry of one batch must not mark the job retrying.
    is_batch = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Ignore:
            raise
        except Retry as retry:
            self._file_failure(kwargs, retry.exc, final=False, when=retry.when)
            raise
        except Reject as rejected:
            # Celery raises Reject when it cannot publish a retry: the broker is down.
            # The attempt is not final; the job waits as `retrying`, and the outbox relay
            # sends it again once the broker is back.
            original = _stage_error(rejected)
            self._file_failure(kwargs, original, final=False, when=self._backoff())
            raise
        except Exception as exc:
            self._file_failure(kwargs, exc, final=True, when=None)
            raise

    def _backoff(self) -> float:
        """The wait autoretry chose for this attempt's retry (2, 4, … 64 s)."""
        return float(
            get_exponential_backoff_interval(
                factor=self.retry_backoff,
                retries=self.request.retries,
                maximum=self.retry_backoff_max,
                full_jitter=False,
            )
        )

    def _file_failure(
        self, kwargs: dict[str, Any], exc: BaseException | None, *, final: bool, when: Any
    ) -> None:
        """Write the error row. Bookkeeping must never mask the failure it records."""
        if exc is None or "job_id" not in kwargs:
            return
        next_retry_at = None
        if not final:
            seconds = when.timestamp() - time.time() if isinstance(when, datetime) else when
            next_retry_at = states.now() + timedelta(seconds=float(seconds or 0))
        try:
            with flask_app_of(self.app).app_context(), get_db().session() as session:
                completion.record_failure(
                    session,
                    uuid.UUID(kwargs["job_id"]),
                    exc,
                    retry_count=self.request.retries + (0 if final else 1),
                    next_retry_at=next_retry_at,
                    final=final,
                    worker_id=worker_id(self),
                    update_job=final or not self.is_batch,
                    attempt=getattr(self.request, "claimed_attempt", None),
                )
        except Exception:  # bookkeeping must never mask the real failure
            log.exception("could not record the failure of job %s", kwargs.get("job_id"))


def _stage_error(rejected: Reject) -> BaseException:
    """The stage's own error behind a retry that could not be published.

    Celery raises Reject while handling the publish error, which it raised while
    handling the stage's error: the stage's error is further down the context chain.
    """
    chain: list[BaseException] = []
    error: BaseException | None = rejected.__context__
    while error is not None and error not in chain and len(chain) < 20:
        chain.append(error)
        error = error.__context__
    ours = [error for error in chain if isinstance(error, PipelineError)]
    if ours:
        return ours[0]
    return chain[-1] if chain else rejected


class BatchTask(StageTask):
    abstract = True
    is_batch = True


def worker_id(task: Any) -> str:
    return f"{task.request.hostname or 'local'}:{os.getpid()}"


class Heartbeats:
    """One thread per worker process keeps every running job's `heartbeat_at` fresh.

    `track(job_id)` registers a job for as long as its stage runs; the thread refreshes
    all tracked jobs every `interval` seconds in one UPDATE. Starting a thread per stage
    would cost more than a short stage itself.
    """

    def __init__(self, db: Database, interval: float) -> None:
        self.db, self.interval = db, interval
        self._jobs: dict[uuid.UUID, int] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    @contextmanager
    def track(self, job_id: uuid.UUID) -> Iterator[None]:
        with self._lock:
            self._jobs[job_id] = self._jobs.get(job_id, 0) + 1
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()  # a forked pool child starts its own thread
                self._thread = threading.Thread(target=self._run, name="heartbeats", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._jobs[job_id] -= 1
                if not self._jobs[job_id]:
                    del self._jobs[job_id]

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            with self._lock:
                tracked = list(self._jobs)
            if not tracked:
                continue
            try:
                with self.db.session() as session:
                    claims.heartbeat(session, tracked)
            except Exception:  # noqa: BLE001 - a missed beat is tolerable; reclaim has slack
                log.warning("heartbeat for %d job(s) failed", len(tracked))


_heartbeats: dict[int, Heartbeats] = {}


def heartbeats() -> Heartbeats:
    """This process's heartbeat keeper for the current app's database."""
    db = get_db()
    keeper = _heartbeats.get(id(db))
    if keeper is None:
        interval = current_app.config["SETTINGS"].heartbeat_interval_s
        keeper = _heartbeats[id(db)] = Heartbeats(db, interval)
    return keeper


def _context(task: Any, claim: claims.Claim) -> StageContext:
    return StageContext(
        claim=claim,
        db=get_db(),
        blobs=current_app.extensions["blobs"],
        settings=current_app.config["SETTINGS"],
        task=task,
    )


def run_stage(task: Any, job_id: str, work: Work) -> str | None:
    """Claim the job, run `work` with a heartbeat, and complete the stage atomically."""
    settings: Settings = current_app.config["SETTINGS"]
    db = get_db()
    dispatcher = current_app.extensions["dispatcher"]
    job_uuid = uuid.UUID(job_id)
    who, stale_after = worker_id(task), timedelta(seconds=settings.stale_after_s)
    claim = claims.claim_at_once(db, job_uuid, worker_id=who)
    if claim is None:
        with db.session() as session:
            claim = claims.begin_stage(session, job_uuid, worker_id=who, stale_after=stale_after)
    if claim.action is not claims.Action.RUN:  # done already, or must not run
        log.info("job %s: %s", job_id, claim.reason)
        return None
    context = _context(task, claim)
    task.request.claimed_attempt = claim.attempt  # the fence of this delivery's writes
    with heartbeats().track(job_uuid):
        outcome = work(context)
        if isinstance(outcome, Handoff):
            with db.session() as session:
                claims.extend_lease(session, job_uuid, outcome.lease_s)
            outcome.publish()  # the batch that completes the stage queues the next
            return None
        try:
            with db.session() as session:
                outcome(session)
                upcoming = completion.complete_stage(session, job_uuid, attempt=claim.attempt)
        except completion.FencedOut:
            log.warning("job %s: taken over or ended meanwhile; this output is dropped", job_id)
            return None
    if upcoming is not None:
        # Committed first: if this publish fails, the outbox relay sends it.
        dispatcher.publish_after_commit([upcoming], defer_mark=True)
    return str(claim.shell_file_id)


BatchWork = Callable[[StageContext], None]
Finish = Callable[[Session, StageContext], bool]
"""Under the job's row lock: save the stage's summary and return True if the stage is
complete (every batch's part is saved), False while other batches are still working."""


def run_batch(task: Any, job_id: str, work: BatchWork, finish: Finish) -> None:
    """Run one batch of a handed-off stage; the batch that finds the stage whole completes it."""
    db = get_db()
    job_uuid = uuid.UUID(job_id)
    with db.session() as session:
        claim = claims.batch_claim(session, job_uuid)
    if claim.action is not claims.Action.RUN:
        log.info("batch of job %s: %s", job_id, claim.reason)
        return
    context = _context(task, claim)
    with heartbeats().track(job_uuid):
        work(context)
    upcoming = None
    task.request.claimed_attempt = claim.attempt
    try:
        with db.session() as session:
            if not claims.lock_running(session, job_uuid):
                return
            if finish(session, context):
                upcoming = completion.complete_stage(session, job_uuid, attempt=claim.attempt)
    except completion.FencedOut:
        log.warning("batch of job %s: taken over or ended meanwhile; dropped", job_id)
        return
    if upcoming is not None:
        # Committed first: if this publish fails, the outbox relay sends it.
        current_app.extensions["dispatcher"].publish_after_commit([upcoming], defer_mark=True)
