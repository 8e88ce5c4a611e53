"""The statements of a stage's hot path that differ by database, behind one object.

PostgreSQL lets an UPDATE sit in a WITH clause, so claiming a stage (and starting its
document, and reading what the stage needs of it) is one statement, as is completing a
stage and queueing the next; a batch of ids travels as one array parameter. Other
databases (SQLite, the embedded default) take the same steps one statement at a time.
`statements(connection)` gives the object for the connection's database; callers ask
it, and none of them branches on the dialect.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Uuid, and_, any_, bindparam, exists, func, select, true, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from app.models import IN_FLIGHT_STATUSES, Job, ShellFile, table_of

# Core statements built once (SQLAlchemy caches their compiled form).
_jobs = table_of(Job)
_files = table_of(ShellFile)

_CLAIM_JOB = (
    update(_jobs)
    .where(
        _jobs.c.id == bindparam("p_job_id"),
        # A stale running job (its worker died) is taken over by `_decide`, which files
        # the `worker_lost` row.
        # A waiting job's stage comes after one not yet completed: it does not run.
        _jobs.c.status.in_(("queued", "retrying")),
        _jobs.c.attempts < _jobs.c.max_retries + 1,
        exists().where(
            _files.c.id == _jobs.c.shell_file_id,
            _files.c.status.in_(IN_FLIGHT_STATUSES),
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
    .returning(
        _jobs.c.shell_file_id,
        _jobs.c.job_type,
        _jobs.c.priority,
        _jobs.c.stage_index,
        _jobs.c.attempts,
    )
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
        _claimed.c.attempts,
        *_FILE_FIELDS,
        select(func.count()).select_from(_started).scalar_subquery().label("started"),
    )
    .select_from(_claimed)
    .join(_files, _files.c.id == _claimed.c.shell_file_id)
)


_COMPLETE_JOB = (
    update(_jobs)
    .where(
        _jobs.c.id == bindparam("p_job_id"),
        _jobs.c.status == "running",
        # The fence: only the attempt that claimed the job may complete it. A worker that
        # stalled past its lease and was taken over (a later attempt) completes nothing.
        _jobs.c.attempts == bindparam("p_attempt"),
    )
    .values(status="completed", completed_at=bindparam("p_now"), heartbeat_at=None)
    .returning(_jobs.c.shell_file_id, _jobs.c.run_number, _jobs.c.stage_index)
)


_IN_NEXT_STAGE = and_(
    _jobs.c.shell_file_id == bindparam("p_shell_file_id"),
    _jobs.c.run_number == bindparam("p_run_number"),
    _jobs.c.stage_index == bindparam("p_stage_index"),
)


# The next stage's job is queued unpublished: the caller publishes it once its transaction
# has committed (`Dispatcher.publish_after_commit`), or the outbox relay does.
_QUEUED_JOB = (_jobs.c.id, _jobs.c.job_name, _jobs.c.priority)
_QUEUE_NEXT = (
    update(_jobs)
    .where(_IN_NEXT_STAGE, _jobs.c.status == "waiting")
    .values(status="queued", published_at=None, broker_epoch=None)
    .returning(*_QUEUED_JOB)
)


NEXT_EXISTS = select(_jobs.c.id).where(_IN_NEXT_STAGE)


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
    .values(status="queued", published_at=None, broker_epoch=None)
    .returning(*_QUEUED_JOB)
    .cte("queued")
)


_COMPLETE_AND_QUEUE_NEXT = select(
    _done.c.shell_file_id,
    _done.c.run_number,
    _done.c.stage_index,
    _queued.c.id,
    _queued.c.job_name,
    _queued.c.priority,
).select_from(_done.outerjoin(_queued, true()))


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


class Statements:
    """One statement at a time: what any database SQLAlchemy speaks can do."""

    #: A claim is one statement, atomic by itself, so it may run in autocommit; an upload
    #: may check access and insert everything in one statement.
    one_statement = False

    def claim(self, connection: Connection, params: dict[str, Any]) -> tuple[Any, Any]:
        """Claim the job and read its shell file (started if this is the first stage):
        (the claimed job, the file's fields), or (None, None) if it cannot simply be
        claimed."""
        claimed = connection.execute(_CLAIM_JOB, params).one_or_none()
        if claimed is None:
            return None, None
        of_file = {"p_shell_file_id": claimed.shell_file_id}
        shell_file = None
        if claimed.stage_index == 0:
            shell_file = connection.execute(
                _START_FILE, of_file | {"p_now": params["p_now"]}
            ).one_or_none()
        if shell_file is None:
            shell_file = connection.execute(_READ_FILE, of_file).one()
        return claimed, shell_file

    def complete(self, connection: Connection, params: dict[str, Any]) -> tuple[Any, Any]:
        """Complete the running job and queue the next stage's: (the completed job's
        place, the queued job's id, name and priority, or None if none was queued)."""
        done = connection.execute(_COMPLETE_JOB, params).one_or_none()
        if done is None or done.shell_file_id is None:
            return done, None
        where = next_stage(done.shell_file_id, done.run_number, done.stage_index + 1)
        return done, connection.execute(_QUEUE_NEXT, where).one_or_none()

    def mark_published(
        self, connection: Connection, job_ids: list[uuid.UUID], at: datetime, epoch: str | None
    ) -> None:
        connection.execute(
            _MARK_PUBLISHED_IN, {"p_ids": list(job_ids), "p_now": at, "p_epoch": epoch}
        )


class PostgresStatements(Statements):
    """PostgreSQL: each step of the hot path in one round trip."""

    one_statement = True

    def claim(self, connection: Connection, params: dict[str, Any]) -> tuple[Any, Any]:
        claimed = connection.execute(_CLAIM_AND_READ, params).one_or_none()
        return claimed, claimed

    def complete(self, connection: Connection, params: dict[str, Any]) -> tuple[Any, Any]:
        done = connection.execute(_COMPLETE_AND_QUEUE_NEXT, params).one_or_none()
        return done, (done if done is not None and done.id is not None else None)

    def mark_published(
        self, connection: Connection, job_ids: list[uuid.UUID], at: datetime, epoch: str | None
    ) -> None:
        connection.execute(
            _MARK_PUBLISHED_ANY, {"p_ids": list(job_ids), "p_now": at, "p_epoch": epoch}
        )


_BY_DIALECT: dict[str, Statements] = {"postgresql": PostgresStatements()}
_PORTABLE = Statements()


def statements(bind: Connection | Engine) -> Statements:
    """The statements for the database of `bind`."""
    return _BY_DIALECT.get(bind.dialect.name, _PORTABLE)


def next_stage(shell_file_id: uuid.UUID, run_number: int, stage_index: int) -> dict[str, Any]:
    """The parameters that name a run's stage (`_IN_NEXT_STAGE`)."""
    return {
        "p_shell_file_id": shell_file_id,
        "p_run_number": run_number,
        "p_stage_index": stage_index,
    }
