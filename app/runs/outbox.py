"""What the outbox relay publishes: jobs whose message never reached the broker, or was lost."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import (
    Uuid,
    and_,
    any_,
    bindparam,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from app.models import Job, table_of
from app.runs.states import now

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
