"""What the outbox relay publishes: jobs whose message never reached the broker, or was lost."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import (
    and_,
    or_,
    select,
)
from sqlalchemy.orm import Session

from app.models import Job
from app.runs.dialects import statements
from app.runs.states import now


def mark_published(session: Session, job_ids: list[uuid.UUID], epoch: str | None) -> None:
    """Record that these jobs' messages went to the broker of `epoch`."""
    connection = session.connection()
    statements(connection).mark_published(connection, job_ids, now(), epoch)


def jobs_to_publish(
    session: Session, *, current_epoch: str | None, grace: timedelta, stale_after: timedelta
) -> list[Job]:
    """Jobs whose message is not (or no longer) on the broker, locked for the caller.

    - committed but never published (the broker was down, or the process died
      between commit and publish), `grace` after it was queued (its row last changed):
      the worker that queued it publishes it at once, and marks it a moment later;
    - published to a Redis that has since restarted and lost it;
    - due to be retried long ago, so the message holding the countdown was lost.
    """
    current = now()
    conditions = [
        and_(Job.status == "queued", Job.published_at.is_(None), Job.updated_at < current - grace),
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
