"""Claiming a stage for one delivery (run it, skip it as done, or stop); leases, heartbeats.

Stages run at least once, so `begin_stage` decides under a row lock whether a
delivery should run, be skipped (already done: whoever completed it queued the next
stage) or stop (the document failed, was cancelled, or another worker is on it). Every
function joins the caller's session and transaction and commits nothing, but
`claim_at_once`, which claims a stage in one autocommitted statement of its own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import (
    bindparam,
    or_,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.db import Database
from app.models import Job, ShellFile, table_of
from app.runs.completion import dead_letter, worker_lost
from app.runs.dialects import statements
from app.runs.states import TERMINAL_SHELL_FILE_STATUSES, advance_status, now


class Action(Enum):
    RUN = "run"
    SKIP = "skip"  # done already: its completion queued the next stage
    STOP = "stop"  # must not run: the run ended, or another worker holds it


@dataclass(frozen=True)
class Claim:
    action: Action
    reason: str
    job_id: uuid.UUID
    stage: str = ""
    shell_file_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    storage_key: str = ""
    mime_type: str = ""
    priority: int = 5
    original_filename: str = ""
    #: The claim's fencing token: the job's attempt number when this delivery claimed it.
    attempt: int = 0


# Built once (SQLAlchemy caches its compiled form): every beat of every running stage.
_jobs = table_of(Job)
_HEARTBEAT = (
    update(_jobs)
    .where(
        _jobs.c.id.in_(bindparam("p_job_ids", expanding=True)),
        _jobs.c.status == "running",
        or_(_jobs.c.heartbeat_at.is_(None), _jobs.c.heartbeat_at < bindparam("p_now")),
    )
    .values(heartbeat_at=bindparam("p_now"))
)


def begin_stage(
    session: Session, job_id: uuid.UUID, *, worker_id: str, stale_after: timedelta
) -> Claim:
    """Decide what this delivery of a stage does, and mark the job running if it runs.

    The common case, a stage that may run, claims the job with an UPDATE … RETURNING,
    moves the shell file to `processing` if this is the first stage, and reads what the
    stage needs of it: one statement on PostgreSQL, two or three on SQLite. Any other
    case (done, failed, held by another worker or left by a dead one, out of attempts) is
    decided under row locks by `_decide`.
    """
    claim = _try_claim(session.connection(), job_id, worker_id=worker_id)
    return claim or _decide(session, job_id, worker_id=worker_id, stale_after=stale_after)


def claim_at_once(db: Database, job_id: uuid.UUID, *, worker_id: str) -> Claim | None:
    """`begin_stage`'s common case outside any transaction, or None to go the full way.

    Where the claim is one statement, atomic by itself (PostgreSQL), it runs in
    autocommit: that saves the BEGIN and COMMIT round trips every stage would otherwise
    pay. Elsewhere, and whenever the stage cannot simply be claimed, the caller runs
    `begin_stage`.
    """
    if not statements(db.engine).one_statement:
        return None
    with db.autocommit() as connection:
        return _try_claim(connection, job_id, worker_id=worker_id)


def _try_claim(connection: Connection, job_id: uuid.UUID, *, worker_id: str) -> Claim | None:
    params = {"p_job_id": job_id, "p_now": now(), "p_worker_id": worker_id}
    claimed, shell_file = statements(connection).claim(connection, params)
    if claimed is None:
        return None
    return Claim(
        Action.RUN,
        "claimed",
        job_id,
        stage=claimed.job_type,
        shell_file_id=claimed.shell_file_id,
        patient_id=shell_file.patient_id,
        storage_key=shell_file.storage_key,
        mime_type=shell_file.mime_type,
        priority=claimed.priority,
        original_filename=shell_file.original_filename,
        attempt=claimed.attempts,
    )


def _decide(  # noqa: PLR0911 - a decision table reads best as early returns
    session: Session, job_id: uuid.UUID, *, worker_id: str, stale_after: timedelta
) -> Claim:
    """The uncommon cases of `begin_stage`, decided under row locks."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is None or job.shell_file_id is None:
        return Claim(Action.STOP, "job no longer exists", job_id)
    shell_file = session.get(ShellFile, job.shell_file_id, with_for_update=True)
    if shell_file is None:
        return Claim(Action.STOP, "shell file no longer exists", job_id)
    claim = _claim_for(job, shell_file)
    if job.status == "completed":
        return claim(Action.SKIP, "stage already completed")
    if job.status in ("failed", "dead_letter", "cancelled"):
        return claim(Action.STOP, f"job is {job.status}")
    if job.status == "waiting":  # the rows say what runs next: not this yet
        return claim(Action.STOP, "an earlier stage has not completed")
    if shell_file.status in TERMINAL_SHELL_FILE_STATUSES or shell_file.run_number != job.run_number:
        return claim(Action.STOP, f"shell file is {shell_file.status}")
    current = now()
    heartbeat = job.heartbeat_at
    if job.status == "running" and heartbeat is not None:
        if heartbeat.tzinfo is None:  # SQLite hands back naive UTC
            heartbeat = heartbeat.replace(tzinfo=UTC)
        if current - heartbeat < stale_after:
            return claim(Action.STOP, "another worker is running this stage")
    if job.attempts >= job.max_retries + 1:
        dead_letter(session, job, shell_file, reason="attempts exhausted", worker_id=worker_id)
        return claim(Action.STOP, "attempts exhausted")
    if job.status == "running":  # its heartbeat went stale: the worker running it died
        session.add(worker_lost(job, "the stage's worker stopped heartbeating; taken over"))
    job.status = "running"
    job.attempts += 1
    job.started_at = job.started_at or current
    job.heartbeat_at = current
    job.retry_at = None
    job.worker_id = worker_id
    advance_status(shell_file, "processing")
    shell_file.processing_started_at = shell_file.processing_started_at or current
    return claim(Action.RUN, "claimed")


def _claim_for(job: Job, shell_file: ShellFile) -> Any:
    def make(action: Action, reason: str) -> Claim:
        return Claim(
            action,
            reason,
            job.id,
            stage=job.job_type,
            shell_file_id=shell_file.id,
            patient_id=shell_file.patient_id,
            storage_key=shell_file.storage_key,
            mime_type=shell_file.mime_type,
            priority=job.priority,
            original_filename=shell_file.original_filename,
            attempt=job.attempts,
        )

    return make


def extend_lease(session: Session, job_id: uuid.UUID, seconds: float) -> None:
    """Hold a handed-off job as alive while its batches wait in the queue.

    The heartbeat is set ahead of now; batches refresh it once they run.
    """
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "running")
        .values(heartbeat_at=now() + timedelta(seconds=seconds))
    )


def batch_claim(session: Session, job_id: uuid.UUID) -> Claim:
    """May a batch of this (handed-off, running) stage go ahead?"""
    job = session.get(Job, job_id)
    if job is None or job.shell_file_id is None:
        return Claim(Action.STOP, "job no longer exists", job_id)
    shell_file = session.get(ShellFile, job.shell_file_id)
    if shell_file is None:
        return Claim(Action.STOP, "shell file no longer exists", job_id)
    claim = _claim_for(job, shell_file)
    if job.status != "running":
        return claim(Action.STOP, f"job is {job.status}")
    if shell_file.status != "processing" or shell_file.run_number != job.run_number:
        return claim(Action.STOP, f"shell file is {shell_file.status}")
    return claim(Action.RUN, "batch may run")


def lock_running(session: Session, job_id: uuid.UUID) -> bool:
    """Lock the job row; True if it is still running (its batches may complete it)."""
    job = session.get(Job, job_id, with_for_update=True)
    return job is not None and job.status == "running"


def heartbeat(session: Session, job_ids: list[uuid.UUID]) -> None:
    """Refresh running jobs' heartbeats (never pulling back a lease set further ahead)."""
    session.connection().execute(_HEARTBEAT, {"p_job_ids": job_ids, "p_now": now()})
