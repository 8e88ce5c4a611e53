"""The life of a job row: enqueued with its upload, claimed, heartbeating, completed or failed.

`job_queue` holds one row per stage run. A shell file's run is a chain of rows
(`stage_index` 0…5); the first is `queued` and is what the outbox publishes, the
later ones wait for the stage before them. Every function here joins the
caller's session and transaction and commits nothing, but `claim_at_once`, which
claims a stage in one autocommitted statement of its own.

Stages run at least once, so `begin_stage` decides under a row lock whether a
delivery should run, be skipped (already done: let the chain go on) or stop the
chain (the document failed, was cancelled, or another worker is on it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import (
    Uuid,
    and_,
    any_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.db import Database
from app.models import JOB_CATEGORIES, Job, ProcessingError, ShellFile, table_of
from app.pipeline import STAGES, StageSpec
from app.runs.failures import describe

# Status only moves forward; a reprocess is an explicit new run.
_NEXT_STATUSES: dict[str, frozenset[str]] = {
    "uploaded": frozenset({"processing", "failed", "quarantined", "cancelled", "archived"}),
    "processing": frozenset({"completed", "failed", "quarantined", "cancelled", "archived"}),
    "completed": frozenset({"archived"}),
    "failed": frozenset({"archived"}),
    "quarantined": frozenset({"archived"}),
    "cancelled": frozenset({"archived"}),
    "archived": frozenset(),
}
TERMINAL_SHELL_FILE_STATUSES = frozenset({"failed", "quarantined", "cancelled", "archived"})


class IllegalTransition(Exception):
    """A status change that would move a shell file backwards."""


def now() -> datetime:
    return datetime.now(UTC)


def advance_status(shell_file: ShellFile, new_status: str) -> None:
    if new_status == shell_file.status:
        return
    if new_status not in _NEXT_STATUSES[shell_file.status]:
        raise IllegalTransition(f"shell file cannot go from {shell_file.status} to {new_status}")
    shell_file.status = new_status


def lane_of(job_name: str) -> str:
    lane = job_name.split(".", 1)[0]
    if lane not in ("fast", "ai"):
        raise ValueError(f"job {job_name!r} names no lane (fast.* or ai.*)")
    return lane


@dataclass(frozen=True)
class ChainLink:
    """What publishing a stage needs to know about its job (an ORM `Job` has the same)."""

    id: uuid.UUID
    job_name: str
    shell_file_id: uuid.UUID | None
    priority: int


#: Attempts after the first: waits of 2, 4, 8, 16, 32 and 64 s.
DEFAULT_MAX_RETRIES = 6


def _job_row(
    *,
    job_type: str,
    job_name: str,
    job_payload: dict[str, Any],
    job_category: str,
    priority: int,
    scheduled_at: datetime | None,
    status: str,
    max_retries: int,
) -> dict[str, Any]:
    if not 1 <= priority <= 10:
        raise ValueError("priority must be between 1 and 10")
    if job_category not in JOB_CATEGORIES:
        raise ValueError(f"unknown job category {job_category!r}")
    job_id = uuid.uuid4()
    current = now()
    return {
        "id": job_id,
        "job_type": job_type,
        "job_name": job_name,
        "job_lane": lane_of(job_name),
        "job_category": job_category,
        "job_payload": job_payload,
        "status": status,
        "priority": priority,
        "stage_index": int(job_payload.get("stage_index", 0)),
        "run_number": int(job_payload.get("run", 1)),
        "scheduled_at": scheduled_at or current,
        "attempts": 0,
        "max_retries": max_retries,
        "celery_task_id": str(job_id),
        "shell_file_id": _uuid_or_none(job_payload.get("shell_file_id")),
        "patient_id": _uuid_or_none(job_payload.get("patient_id")),
        "created_at": current,
        "updated_at": current,
    }


def enqueue_job_v3(  # noqa: PLR0917 - the positional signature is the documented one
    job_type: str,
    job_name: str,
    job_payload: dict[str, Any],
    job_category: str = "standard",
    priority: int = 5,
    scheduled_at: datetime | None = None,
    *,
    session: Session,
    status: str = "queued",
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> uuid.UUID:
    """Add a job to the caller's transaction and return its id.

    `job_payload` names what the job works on (`shell_file_id`, `patient_id`) and,
    for a pipeline stage, its `run` and `stage_index`. Priority 1 is the most urgent.
    """
    row = _job_row(
        job_type=job_type,
        job_name=job_name,
        job_payload=job_payload,
        job_category=job_category,
        priority=priority,
        scheduled_at=scheduled_at,
        status=status,
        max_retries=max_retries,
    )
    session.connection().execute(insert(table_of(Job)), [row])
    job_id: uuid.UUID = row["id"]
    return job_id


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    return uuid.UUID(str(value)) if value else None


def enqueue_pipeline(
    session: Session,
    shell_file: ShellFile,
    *,
    stages: tuple[StageSpec, ...] = STAGES,
    max_retries: int = DEFAULT_MAX_RETRIES,
    start_index: int = 0,
    job_category: str = "standard",
) -> list[ChainLink]:
    """Add one job per stage for the shell file's current run, in one statement; return
    the chain to publish, from `start_index` on (earlier stages are carried over as done).

    The jobs' priority is the document's, lowered by `fair_share_priority` when its
    profile already has many documents in flight.
    """
    priority = fair_share_priority(session, shell_file)

    def status(index: int) -> str:
        if index < start_index:
            return "completed"
        return "queued" if index == start_index else "waiting"

    rows = [
        _job_row(
            job_type=stage.name,
            job_name=stage.task_name,
            job_payload={
                "shell_file_id": str(shell_file.id),
                "patient_id": str(shell_file.patient_id),
                "run": shell_file.run_number,
                "stage_index": index,
            },
            job_category=job_category,
            priority=priority,
            scheduled_at=None,
            status=status(index),
            max_retries=max_retries,
        )
        for index, stage in enumerate(stages)
    ]
    session.connection().execute(insert(table_of(Job)), rows)
    return [
        ChainLink(r["id"], r["job_name"], r["shell_file_id"], r["priority"])
        for r in rows[start_index:]
    ]


#: A profile's documents in flight beyond every multiple of this lower its next
#: document's priority one step (up to 10, the least urgent).
FAIR_SHARE_STEP = 10
_in_flight_files = table_of(ShellFile)
_IN_FLIGHT_OF_PROFILE = select(func.count()).select_from(
    select(_in_flight_files.c.id)
    .where(
        _in_flight_files.c.patient_id == bindparam("p_patient_id"),
        # Not `in_()`: its list is rendered into the SQL at every execution.
        or_(_in_flight_files.c.status == "uploaded", _in_flight_files.c.status == "processing"),
        _in_flight_files.c.id != bindparam("p_shell_file_id"),
    )
    .limit(FAIR_SHARE_STEP * 10)
    .subquery()
)


def fair_share_priority(session: Session, shell_file: ShellFile) -> int:
    """The broker priority of a new run: fair share between profiles.

    One profile uploading a thousand documents must not starve the others. Each
    `FAIR_SHARE_STEP` of its documents already in flight lowers its next one a step, so a
    flood queues behind everyone else's work at the same requested priority, while its
    first documents go at once. The stored `processing_priority` stays as requested.
    """
    in_flight = session.connection().execute(
        _IN_FLIGHT_OF_PROFILE,
        {"p_patient_id": shell_file.patient_id, "p_shell_file_id": shell_file.id},
    )
    return min(10, shell_file.processing_priority + int(in_flight.scalar_one()) // FAIR_SHARE_STEP)


REPROCESSABLE_STATUSES = frozenset({"completed", "failed", "cancelled"})


class CannotReprocess(Exception):
    """The shell file is not in a state a new run can start from."""


def start_new_run(
    session: Session, shell_file: ShellFile, *, from_stage: str | None = None
) -> list[ChainLink]:
    """Begin an explicit new run of the pipeline (a reprocess); return the chain to publish.

    This is the one place a shell file's status goes back: a finished or failed document
    starts over as a new run, numbered after the last. With `from_stage`, the stages
    before it keep their output and are carried over as done; they must have completed
    in the previous run.
    """
    if shell_file.status not in REPROCESSABLE_STATUSES:
        raise CannotReprocess(f"a {shell_file.status} document cannot be reprocessed")
    names = [stage.name for stage in STAGES]
    if from_stage is not None and from_stage not in names:
        raise CannotReprocess(f"from_stage must be one of {', '.join(names)}")
    start = names.index(from_stage) if from_stage else 0
    previous = {
        job.job_type: job.status for job in run_jobs(session, shell_file.id, shell_file.run_number)
    }
    if any(previous.get(name) != "completed" for name in names[:start]):
        raise CannotReprocess("the stages before from_stage did not all complete")
    shell_file.run_number += 1
    shell_file.status = "uploaded" if start == 0 else "processing"
    shell_file.processing_completed_at = None
    session.flush()
    return enqueue_pipeline(session, shell_file, start_index=start)


def run_jobs(session: Session, shell_file_id: uuid.UUID, run_number: int) -> list[Job]:
    return list(
        session.scalars(
            select(Job)
            .where(Job.shell_file_id == shell_file_id, Job.run_number == run_number)
            .order_by(Job.stage_index)
        )
    )


def chain_from(session: Session, stage: Job | StageRef) -> list[Job]:
    """`stage` and the stages after it in its run: what to publish to resume the chain."""
    assert stage.shell_file_id is not None
    return [
        j
        for j in run_jobs(session, stage.shell_file_id, stage.run_number)
        if j.stage_index >= stage.stage_index
    ]


# Published marks come in batches of up to a few hundred ids (`Dispatcher.flush_marks`):
# on PostgreSQL they travel as one array parameter, not one parameter each.
_MARK_PUBLISHED = update(table_of(Job)).values(
    published_at=bindparam("p_now"), broker_epoch=bindparam("p_epoch")
)
_MARK_PUBLISHED_ANY = _MARK_PUBLISHED.where(
    table_of(Job).c.id == any_(bindparam("p_ids", type_=postgresql.ARRAY(Uuid)))
)
_MARK_PUBLISHED_IN = _MARK_PUBLISHED.where(
    table_of(Job).c.id.in_(bindparam("p_ids", expanding=True))
)


def mark_published(session: Session, job_ids: list[uuid.UUID], epoch: str | None) -> None:
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    statement = _MARK_PUBLISHED_ANY if postgres else _MARK_PUBLISHED_IN
    connection.execute(statement, {"p_ids": list(job_ids), "p_now": now(), "p_epoch": epoch})


class Action(Enum):
    RUN = "run"
    SKIP = "skip"  # done already: let the chain continue
    STOP = "stop"  # the chain ends here for this delivery


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


# The hot path of every stage, as Core statements built once (SQLAlchemy caches their
# compiled form): claiming a job, and completing it.
_jobs = table_of(Job)
_files = table_of(ShellFile)
_CLAIM_JOB = (
    update(_jobs)
    .where(
        _jobs.c.id == bindparam("p_job_id"),
        # A stale running job (its worker died) is taken over by `_decide`, which files
        # the `worker_lost` row.
        _jobs.c.status.in_(("queued", "retrying", "waiting")),
        _jobs.c.attempts < _jobs.c.max_retries + 1,
        exists().where(
            _files.c.id == _jobs.c.shell_file_id,
            _files.c.status.in_(("uploaded", "processing")),
            _files.c.run_number == _jobs.c.run_number,
        ),
    )
    .values(
        status="running",
        attempts=_jobs.c.attempts + 1,
        started_at=func.coalesce(_jobs.c.started_at, bindparam("p_now")),
        heartbeat_at=bindparam("p_now"),
        retry_at=None,
        worker_id=bindparam("p_worker_id"),
    )
    .returning(_jobs.c.shell_file_id, _jobs.c.job_type, _jobs.c.priority, _jobs.c.stage_index)
)
_FILE_FIELDS = (
    _files.c.patient_id,
    _files.c.storage_key,
    _files.c.mime_type,
    _files.c.original_filename,
)
# Only the first stage writes the shell file (uploaded -> processing); the others read it.
_START_FILE = (
    update(_files)
    .where(_files.c.id == bindparam("p_shell_file_id"), _files.c.status == "uploaded")
    .values(status="processing", processing_started_at=bindparam("p_now"))
    .returning(*_FILE_FIELDS)
)
_READ_FILE = select(*_FILE_FIELDS).where(_files.c.id == bindparam("p_shell_file_id"))
# PostgreSQL does all three in one round trip: claim the job, start the shell file if
# this is the first stage, and read what the stage needs of it.
_claimed = _CLAIM_JOB.cte("claimed")
_started = (
    update(_files)
    .where(
        _files.c.id == _claimed.c.shell_file_id,
        _claimed.c.stage_index == 0,
        _files.c.status == "uploaded",
    )
    .values(status="processing", processing_started_at=bindparam("p_now"))
    .returning(_files.c.id)
    .cte("started")
)
_CLAIM_AND_READ = (
    select(
        _claimed.c.shell_file_id,
        _claimed.c.job_type,
        _claimed.c.priority,
        _claimed.c.stage_index,
        *_FILE_FIELDS,
        select(func.count()).select_from(_started).scalar_subquery().label("started"),
    )
    .select_from(_claimed)
    .join(_files, _files.c.id == _claimed.c.shell_file_id)
)
_COMPLETE_JOB = (
    update(_jobs)
    .where(_jobs.c.id == bindparam("p_job_id"), _jobs.c.status == "running")
    .values(status="completed", completed_at=bindparam("p_now"), heartbeat_at=None)
    .returning(_jobs.c.shell_file_id, _jobs.c.run_number, _jobs.c.stage_index)
)
_IN_NEXT_STAGE = and_(
    _jobs.c.shell_file_id == bindparam("p_shell_file_id"),
    _jobs.c.run_number == bindparam("p_run_number"),
    _jobs.c.stage_index == bindparam("p_stage_index"),
)
_QUEUE_NEXT = (
    update(_jobs)
    .where(_IN_NEXT_STAGE, _jobs.c.status == "waiting")
    .values(
        status="queued", published_at=bindparam("p_published_at"), broker_epoch=bindparam("p_epoch")
    )
    .returning(_jobs.c.id)
)
_NEXT_EXISTS = select(_jobs.c.id).where(_IN_NEXT_STAGE)
# PostgreSQL does both in one round trip: complete this job and queue the next one.
_done = _COMPLETE_JOB.cte("done")
_queued = (
    update(_jobs)
    .where(
        _jobs.c.shell_file_id == _done.c.shell_file_id,
        _jobs.c.run_number == _done.c.run_number,
        _jobs.c.stage_index == _done.c.stage_index + 1,
        _jobs.c.status == "waiting",
    )
    .values(
        status="queued", published_at=bindparam("p_published_at"), broker_epoch=bindparam("p_epoch")
    )
    .returning(_jobs.c.id)
    .cte("queued")
)
_COMPLETE_AND_QUEUE_NEXT = select(
    _done.c.shell_file_id,
    _done.c.run_number,
    _done.c.stage_index,
    select(func.count()).select_from(_queued).scalar_subquery().label("queued"),
)
_COMPLETE_FILE = (
    update(_files)
    .where(_files.c.id == bindparam("p_shell_file_id"), _files.c.status == "processing")
    .values(status="completed", processing_completed_at=bindparam("p_now"))
)
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

    On PostgreSQL the claim is one statement, atomic by itself: run in autocommit, it
    saves the BEGIN and COMMIT round trips every stage would otherwise pay. Elsewhere,
    and whenever the stage cannot simply be claimed, the caller runs `begin_stage`.
    """
    if db.engine.dialect.name != "postgresql":
        return None
    with db.autocommit() as connection:
        return _try_claim(connection, job_id, worker_id=worker_id)


def _try_claim(connection: Connection, job_id: uuid.UUID, *, worker_id: str) -> Claim | None:
    claim = {"p_job_id": job_id, "p_now": now(), "p_worker_id": worker_id}
    claimed: Any
    shell_file: Any
    if connection.dialect.name == "postgresql":
        claimed = shell_file = connection.execute(_CLAIM_AND_READ, claim).one_or_none()
    else:
        claimed, shell_file = _claim_step_by_step(connection, claim)
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
    )


def _claim_step_by_step(connection: Connection, claim: dict[str, Any]) -> tuple[Any, Any]:
    """`begin_stage`'s claim where an UPDATE cannot sit in a WITH clause (SQLite)."""
    claimed = connection.execute(_CLAIM_JOB, claim).one_or_none()
    if claimed is None:
        return None, None
    of_file = {"p_shell_file_id": claimed.shell_file_id}
    shell_file = None
    if claimed.stage_index == 0:
        shell_file = connection.execute(
            _START_FILE, of_file | {"p_now": claim["p_now"]}
        ).one_or_none()
    if shell_file is None:
        shell_file = connection.execute(_READ_FILE, of_file).one()
    return claimed, shell_file


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
        session.add(_worker_lost(job, "the stage's worker stopped heartbeating; taken over"))
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


ACTIVE_JOB_STATUSES = ("queued", "running", "retrying")


def current_stages(session: Session, shell_file_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The stage each shell file is at: its earliest job still queued, running or retrying.

    Derived from the job rows rather than kept on the shell file, so a stage's claim and
    completion never write the shell file's row.
    """
    rows = session.execute(
        select(Job.shell_file_id, Job.job_type)
        .where(Job.shell_file_id.in_(shell_file_ids), Job.status.in_(ACTIVE_JOB_STATUSES))
        .order_by(Job.shell_file_id, Job.run_number.desc(), Job.stage_index)
    ).all()
    stages: dict[uuid.UUID, str] = {}
    for shell_file_id, stage in rows:
        if shell_file_id is not None:
            stages.setdefault(shell_file_id, stage)
    return stages


def heartbeat(session: Session, job_ids: list[uuid.UUID]) -> None:
    """Refresh running jobs' heartbeats (never pulling back a lease set further ahead)."""
    session.connection().execute(_HEARTBEAT, {"p_job_ids": job_ids, "p_now": now()})


@dataclass(frozen=True)
class StageRef:
    """Where a stage sits in its run: enough to find the stages after it."""

    shell_file_id: uuid.UUID
    run_number: int
    stage_index: int


def complete_stage(
    session: Session, job_id: uuid.UUID, *, epoch: str | None, published: bool = True
) -> StageRef | None:
    """Mark the stage done; queue the next one, or complete the shell file after the last.

    Returns the next stage, or None after the last one. With `published` the caller's
    chain carries the next stage on; without it the next job waits for the caller (or
    the outbox relay) to publish it.
    """
    current = now()
    connection = session.connection()
    publish = {"p_published_at": current if published else None, "p_epoch": epoch}
    if connection.dialect.name == "postgresql":
        done = connection.execute(
            _COMPLETE_AND_QUEUE_NEXT, {"p_job_id": job_id, "p_now": current} | publish
        ).one_or_none()
        queued = bool(done and done.queued)
    else:
        done = connection.execute(
            _COMPLETE_JOB, {"p_job_id": job_id, "p_now": current}
        ).one_or_none()
        queued = False
    if done is None or done.shell_file_id is None:
        return None
    following = StageRef(done.shell_file_id, done.run_number, done.stage_index + 1)
    where = {
        "p_shell_file_id": following.shell_file_id,
        "p_run_number": following.run_number,
        "p_stage_index": following.stage_index,
    }
    if not queued and connection.dialect.name != "postgresql":
        queued = connection.execute(_QUEUE_NEXT, where | publish).one_or_none() is not None
    if queued or connection.execute(_NEXT_EXISTS, where).first() is not None:
        return following
    connection.execute(_COMPLETE_FILE, {"p_shell_file_id": done.shell_file_id, "p_now": current})
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
) -> ProcessingError | None:
    """File one failed attempt; on a final one, fail the stage and the shell file.

    `update_job=False` files the row only (a retrying batch of a stage still running).
    """
    job = session.get(Job, job_id, with_for_update=True)
    if job is None or job.shell_file_id is None:
        return None
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
    session.add(_worker_lost(job, "the stage's worker stopped heartbeating; sent again"))
    job.status = "queued"
    job.heartbeat_at = None
    return True


def _worker_lost(job: Job, message: str) -> ProcessingError:
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


def jobs_to_publish(
    session: Session, *, current_epoch: str | None, grace: timedelta, stale_after: timedelta
) -> list[Job]:
    """Jobs whose message is not (or no longer) on the broker, locked for the caller.

    - committed but never published (the broker was down, or the process died
      between commit and publish);
    - published to a Redis that has since restarted and lost it;
    - due to be retried long ago, so the message holding the countdown was lost.
    """
    current = now()
    conditions = [
        and_(Job.status == "queued", Job.published_at.is_(None), Job.created_at < current - grace),
        and_(Job.status == "retrying", Job.retry_at < current - stale_after),
    ]
    if current_epoch is not None:
        conditions.append(
            and_(
                Job.status == "queued",
                Job.published_at.is_not(None),
                or_(Job.broker_epoch.is_(None), Job.broker_epoch != current_epoch),
            )
        )
    return list(
        session.scalars(
            select(Job)
            .where(or_(*conditions), Job.scheduled_at <= current)
            .order_by(Job.priority, Job.created_at)
            .limit(500)
            .with_for_update(skip_locked=True)
        )
    )


def stale_running_jobs(session: Session, *, stale_after: timedelta) -> list[Job]:
    """Running jobs whose worker stopped heartbeating: it died, or lost its database."""
    return list(
        session.scalars(
            select(Job)
            .where(Job.status == "running", Job.heartbeat_at < now() - stale_after)
            .order_by(Job.priority, Job.heartbeat_at)
            .limit(500)
            .with_for_update(skip_locked=True)
        )
    )


class CannotCancel(Exception):
    """The shell file has no run under way to cancel."""


def cancel_run(session: Session, shell_file: ShellFile) -> int:
    """Stop the current run: every stage not yet done is cancelled (a stage running now
    finishes its work, but its completion no longer counts and nothing after it runs).
    Returns how many jobs were cancelled."""
    if shell_file.status not in ("uploaded", "processing"):
        raise CannotCancel(f"a {shell_file.status} document has no run to cancel")
    result = session.execute(
        update(Job)
        .where(
            Job.shell_file_id == shell_file.id,
            Job.run_number == shell_file.run_number,
            Job.status.in_(("waiting", *ACTIVE_JOB_STATUSES)),
        )
        .values(status="cancelled", completed_at=now(), heartbeat_at=None)
        .execution_options(synchronize_session=False)
    )
    advance_status(shell_file, "cancelled")
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def dead_letters(session: Session) -> list[Job]:
    """Stages that exhausted their attempts (their documents ended failed)."""
    return list(
        session.scalars(select(Job).where(Job.status == "dead_letter").order_by(Job.dead_letter_at))
    )


def stuck_jobs(session: Session, *, older_than: timedelta) -> list[Job]:
    """Jobs queued, running or retrying with no sign of life for longer than `older_than`."""
    cutoff = now() - older_than
    return list(
        session.scalars(
            select(Job)
            .where(
                Job.status.in_(ACTIVE_JOB_STATUSES),
                func.coalesce(Job.heartbeat_at, Job.published_at, Job.created_at) < cutoff,
            )
            .order_by(Job.priority, Job.created_at)
            .with_for_update(skip_locked=True)
        )
    )


def prune_completed(session: Session, *, older_than: timedelta) -> int:
    """Delete job rows completed (or cancelled) before `older_than` ago; return how many."""
    cutoff = now() - older_than
    result = session.execute(
        delete(Job).where(Job.status.in_(("completed", "cancelled")), Job.completed_at < cutoff)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
