"""A run's job rows: enqueued with the upload (fair share between profiles), a new run, a cancel.

`job_queue` holds one row per stage run. A shell file's run is a sequence of rows
(`stage_index` 0…5), and the rows alone say what runs next: the first is `queued` (it is
what gets published), the later ones wait, and completing a stage queues the one after
it. Nothing here commits: every function joins the caller's session and transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from app.config import stage_max_retries
from app.models import IN_FLIGHT_STATUSES, JOB_CATEGORIES, Job, ShellFile, table_of
from app.pipeline import STAGES, StageSpec
from app.runs.states import (
    ACTIVE_JOB_STATUSES,
    REPROCESSABLE_STATUSES,
    advance_status,
    now,
)


def lane_of(job_name: str) -> str:
    lane = job_name.split(".", 1)[0]
    if lane not in ("fast", "ai"):
        raise ValueError(f"job {job_name!r} names no lane (fast.* or ai.*)")
    return lane


@dataclass(frozen=True)
class QueuedJob:
    """A queued job, as publishing it needs it (an ORM `Job` has the same fields)."""

    id: uuid.UUID
    job_name: str
    shell_file_id: uuid.UUID | None
    priority: int


def _job_row(
    *,
    job_type: str,
    job_name: str,
    job_payload: dict[str, Any],
    job_category: str,
    priority: int,
    scheduled_at: datetime | None,
    status: str,
    max_retries: int | None,
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
        # Attempts after the first, `STAGE_MAX_RETRIES` unless the caller says otherwise.
        "max_retries": stage_max_retries() if max_retries is None else max_retries,
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
    max_retries: int | None = None,
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


def pipeline_rows(
    shell_file: ShellFile,
    *,
    priority: int,
    stages: tuple[StageSpec, ...] = STAGES,
    max_retries: int | None = None,
    start_index: int = 0,
    job_category: str = "standard",
) -> list[dict[str, Any]]:
    """The job rows of the shell file's current run, one per stage: the stages before
    `start_index` carried over as done, the one at it queued, the later ones waiting.
    `enqueue_pipeline` inserts them; so does the upload's one statement."""

    def status(index: int) -> str:
        if index < start_index:
            return "completed"
        return "queued" if index == start_index else "waiting"

    return [
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


def enqueue_pipeline(
    session: Session,
    shell_file: ShellFile,
    *,
    stages: tuple[StageSpec, ...] = STAGES,
    max_retries: int | None = None,
    start_index: int = 0,
    job_category: str = "standard",
) -> list[QueuedJob]:
    """Add one job per stage for the shell file's current run, in one statement; return
    the job to publish once committed, the one at `start_index` (earlier stages are carried
    over as done; later ones wait for it, and each completion queues the next).

    The jobs' priority is the document's, lowered by `fair_share_priority` when its
    profile already has many documents in flight.
    """
    rows = pipeline_rows(
        shell_file,
        priority=fair_share_priority(session, shell_file),
        stages=stages,
        max_retries=max_retries,
        start_index=start_index,
        job_category=job_category,
    )
    session.connection().execute(insert(table_of(Job)), rows)
    queued = rows[start_index]
    return [
        QueuedJob(queued["id"], queued["job_name"], queued["shell_file_id"], queued["priority"])
    ]


#: A profile's documents in flight beyond every multiple of this lower its next
#: document's priority one step (up to 10, the least urgent).
FAIR_SHARE_STEP = 10


_in_flight_files = table_of(ShellFile)


def in_flight_of_profile(profile: ColumnElement[Any], excluding: ColumnElement[Any]) -> Select[Any]:
    """How many of the profile's documents, other than `excluding`, are in flight (counted
    up to 10 x `FAIR_SHARE_STEP`): the fair-share count, written once for
    `fair_share_priority` and the upload's one statement (`app.documents.upload`)."""
    return select(func.count().label("n")).select_from(
        select(_in_flight_files.c.id)
        .where(
            _in_flight_files.c.patient_id == profile,
            # Not `in_()`: its list is rendered into the SQL at every execution.
            or_(*(_in_flight_files.c.status == status for status in IN_FLIGHT_STATUSES)),
            _in_flight_files.c.id != excluding,
        )
        .limit(FAIR_SHARE_STEP * 10)
        .subquery()
    )


_IN_FLIGHT_OF_PROFILE = in_flight_of_profile(
    bindparam("p_patient_id"), bindparam("p_shell_file_id")
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


class CannotReprocess(Exception):
    """The shell file is not in a state a new run can start from."""


def start_new_run(
    session: Session, shell_file: ShellFile, *, from_stage: str | None = None
) -> list[QueuedJob]:
    """Begin an explicit new run of the pipeline (a reprocess); return the job to publish.

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


class CannotCancel(Exception):
    """The shell file has no run under way to cancel."""


def cancel_run(session: Session, shell_file: ShellFile) -> int:
    """Stop the current run: every stage not yet done is cancelled (a stage running now
    finishes its work, but its completion no longer counts and nothing after it runs).
    Returns how many jobs were cancelled."""
    if shell_file.status not in IN_FLIGHT_STATUSES:
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
