"""What operators ask of the job rows: where each document is, dead letters, stuck jobs."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import (
    delete,
    func,
    select,
)
from sqlalchemy.orm import Session

from app.models import Job
from app.runs.states import ACTIVE_JOB_STATUSES, now


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
