"""A stage's end: completed (and the next one queued), or failed, retried or dead-lettered."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    bindparam,
    update,
)
from sqlalchemy.orm import Session

from app.models import Job, ProcessingError, ShellFile, table_of
from app.runs.dialects import NEXT_EXISTS, next_stage, statements
from app.runs.enqueue import QueuedJob
from app.runs.failures import describe
from app.runs.states import TERMINAL_SHELL_FILE_STATUSES, advance_status, now

_files = table_of(ShellFile)

_COMPLETE_FILE = (
    update(_files)
    .where(_files.c.id == bindparam("p_shell_file_id"), _files.c.status == "processing")
    .values(status="completed", processing_completed_at=bindparam("p_now"))
)


class FencedOut(Exception):
    """The job is no longer this attempt's to write: it was taken over by a later attempt,
    cancelled, or finished. The caller rolls back what it was about to save with it."""


def complete_stage(session: Session, job_id: uuid.UUID, *, attempt: int) -> QueuedJob | None:
    """Mark the stage done; queue the next one, or complete the shell file after the last.

    Returns the job queued for the next stage, for the caller to publish once its
    transaction has committed (the outbox relay publishes it if that fails): the job rows,
    not the broker's messages, say what runs next. None after the last stage.

    Raises FencedOut when the job is not running under `attempt` (the claim's fencing
    token) any more: the stage's output, saved in the same transaction, must not count.
    """
    current = now()
    connection = session.connection()
    done, queued = statements(connection).complete(
        connection, {"p_job_id": job_id, "p_now": current, "p_attempt": attempt}
    )
    if done is None:
        raise FencedOut(f"job {job_id} is not running under attempt {attempt}")
    if done.shell_file_id is None:
        return None
    if queued is not None:
        return QueuedJob(queued.id, queued.job_name, done.shell_file_id, queued.priority)
    where = next_stage(done.shell_file_id, done.run_number, done.stage_index + 1)
    if connection.execute(NEXT_EXISTS, where).first() is None:
        connection.execute(
            _COMPLETE_FILE, {"p_shell_file_id": done.shell_file_id, "p_now": current}
        )
    return None


def record_failure(
    session: Session,
    job_id: uuid.UUID,
    exc: BaseException,
    *,
    retry_count: int,
    next_retry_at: datetime | None,
    final: bool,
    worker_id: str | None,
    update_job: bool = True,
    attempt: int | None = None,
) -> ProcessingError | None:
    """File one failed attempt; on a final one, fail the stage and the shell file.

    `update_job=False` files the row only (a retrying batch of a stage still running);
    so does an `attempt` (the claim's fencing token) that no longer holds the job.
    """
    job = session.get(Job, job_id, with_for_update=True)
    if job is None or job.shell_file_id is None:
        return None
    if attempt is not None and (job.status != "running" or job.attempts != attempt):
        # Fenced out: a later attempt holds the job, or the run ended. The failure is
        # filed, but the job and its document are not this attempt's to change.
        update_job = False
    error_type, message = describe(exc)
    error = ProcessingError(
        shell_file_id=job.shell_file_id,
        job_id=job.id,
        stage=job.job_type,
        error_type=error_type,
        error_message=message,
        retry_count=retry_count,
        next_retry_at=None if final else next_retry_at,
        is_final=final,
        worker_id=worker_id,
    )
    session.add(error)
    job.last_error = error_type
    if not update_job:
        return error
    job.heartbeat_at = None
    if not final:
        job.status = "retrying"
        job.retry_at = next_retry_at
        return error
    job.status = "failed"
    job.completed_at = now()
    shell_file = session.get(ShellFile, job.shell_file_id, with_for_update=True)
    if shell_file is not None:
        _end_run(session, job, shell_file, quarantine=bool(getattr(exc, "quarantine", False)))
    return error


def dead_letter(
    session: Session, job: Job, shell_file: ShellFile, *, reason: str, worker_id: str | None
) -> None:
    """A stage that kept losing its worker: give up on it, with a final error row."""
    current = now()
    job.status = "dead_letter"
    job.dead_letter_at = current
    job.completed_at = current
    job.last_error = "worker_lost"
    session.add(
        ProcessingError(
            shell_file_id=shell_file.id,
            job_id=job.id,
            stage=job.job_type,
            error_type="worker_lost",
            error_message=f"{reason}: the stage lost its worker {job.attempts} times",
            retry_count=job.attempts,
            is_final=True,
            worker_id=worker_id,
        )
    )
    _end_run(session, job, shell_file, quarantine=False)


def reclaim_or_dead_letter(session: Session, job: Job) -> bool:
    """A running job went stale. Return True if it should be sent again."""
    assert job.shell_file_id is not None
    shell_file = session.get(ShellFile, job.shell_file_id, with_for_update=True)
    if shell_file is None or shell_file.status in TERMINAL_SHELL_FILE_STATUSES:
        job.status = "cancelled"
        return False
    if job.attempts >= job.max_retries + 1:
        dead_letter(session, job, shell_file, reason="attempts exhausted", worker_id=job.worker_id)
        return False
    session.add(worker_lost(job, "the stage's worker stopped heartbeating; sent again"))
    job.status = "queued"
    job.heartbeat_at = None
    return True


def worker_lost(job: Job, message: str) -> ProcessingError:
    """The row of an attempt whose worker died mid-stage; the stage runs again."""
    return ProcessingError(
        shell_file_id=job.shell_file_id,
        job_id=job.id,
        stage=job.job_type,
        error_type="worker_lost",
        error_message=message,
        retry_count=job.attempts,
        next_retry_at=now(),
        is_final=False,
        worker_id=job.worker_id,
    )


def _end_run(session: Session, job: Job, shell_file: ShellFile, *, quarantine: bool) -> None:
    session.execute(
        update(Job)
        .where(
            Job.shell_file_id == shell_file.id,
            Job.run_number == job.run_number,
            Job.stage_index > job.stage_index,
            Job.status.in_(("waiting", "queued")),
        )
        .values(status="cancelled")
    )
    if shell_file.status not in TERMINAL_SHELL_FILE_STATUSES:
        advance_status(shell_file, "quarantined" if quarantine else "failed")
