"""Claiming a stage: the common case in one statement, the rest decided under row locks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Job, ProcessingError, ShellFile
from app.pipeline.errors import PermanentError
from app.runs import claims, completion, enqueue, outbox, states
from tests.app.test_dispatch import committed_chain

STALE_AFTER = timedelta(seconds=30)


def test_a_queued_stage_is_claimed_and_its_document_starts(db_session: Session) -> None:
    head = committed_chain(db_session)[0]

    claim = claims.begin_stage(db_session, head.id, worker_id="w1", stale_after=STALE_AFTER)

    assert (claim.action, claim.stage, claim.mime_type) == (
        claims.Action.RUN,
        "security_scan",
        "application/pdf",
    )
    job = db_session.get(Job, head.id, populate_existing=True)
    assert (job.status, job.attempts, job.worker_id) == ("running", 1, "w1")
    shell_file = db_session.get(ShellFile, claim.shell_file_id, populate_existing=True)
    assert shell_file.status == "processing"


def test_a_stage_held_by_a_live_worker_is_not_claimed_twice(db_session: Session) -> None:
    head = committed_chain(db_session)[0]
    claims.begin_stage(db_session, head.id, worker_id="w1", stale_after=STALE_AFTER)

    again = claims.begin_stage(db_session, head.id, worker_id="w2", stale_after=STALE_AFTER)

    assert again.action is claims.Action.STOP
    assert db_session.get(Job, head.id, populate_existing=True).worker_id == "w1"


def test_a_stage_left_by_a_dead_worker_is_taken_over_with_a_worker_lost_row(
    db_session: Session,
) -> None:
    head = committed_chain(db_session)[0]
    claims.begin_stage(db_session, head.id, worker_id="w1", stale_after=STALE_AFTER)
    job = db_session.get(Job, head.id)
    job.heartbeat_at = states.now() - STALE_AFTER * 2  # w1 died a while ago
    db_session.flush()

    claim = claims.begin_stage(db_session, head.id, worker_id="w2", stale_after=STALE_AFTER)

    assert claim.action is claims.Action.RUN
    job = db_session.get(Job, head.id, populate_existing=True)
    assert (job.attempts, job.worker_id) == (2, "w2")
    (lost,) = db_session.scalars(select(ProcessingError).where(ProcessingError.job_id == head.id))
    assert (lost.error_type, lost.is_final, lost.worker_id) == ("worker_lost", False, "w1")


def test_a_waiting_stage_does_not_run_until_the_one_before_it_completes(
    db_session: Session,
) -> None:
    """The job rows alone say what runs next: a message for a later stage (a redelivery,
    a message from before a deploy) stops while its stage waits, and completing the stage
    before it queues it and hands it back for publishing."""
    head = committed_chain(db_session)[0]
    second = db_session.scalars(
        select(Job).where(Job.shell_file_id == head.shell_file_id, Job.stage_index == 1)
    ).one()

    early = claims.begin_stage(db_session, second.id, worker_id="w1", stale_after=STALE_AFTER)

    assert early.action is claims.Action.STOP
    assert db_session.get(Job, second.id, populate_existing=True).status == "waiting"

    claims.begin_stage(db_session, head.id, worker_id="w1", stale_after=STALE_AFTER)
    upcoming = completion.complete_stage(db_session, head.id, attempt=1)

    assert upcoming is not None and upcoming.id == second.id
    assert db_session.get(Job, second.id, populate_existing=True).status == "queued"
    claim = claims.begin_stage(db_session, second.id, worker_id="w1", stale_after=STALE_AFTER)
    assert (claim.action, claim.stage) == (claims.Action.RUN, "ocr")


def test_the_relay_leaves_a_just_queued_stage_to_the_worker_that_queued_it(
    db_session: Session,
) -> None:
    """Completing a stage queues the next one unpublished; its worker publishes it at once
    and marks it a moment later. The relay waits its grace from the queueing, not from the
    row's creation (the upload, long before), or it would send most stages twice."""
    head = committed_chain(db_session)[0]
    for job in db_session.scalars(select(Job).where(Job.shell_file_id == head.shell_file_id)):
        job.created_at = states.now() - timedelta(hours=1)  # uploaded an hour ago
    db_session.flush()
    claims.begin_stage(db_session, head.id, worker_id="w1", stale_after=STALE_AFTER)
    upcoming = completion.complete_stage(db_session, head.id, attempt=1)
    assert upcoming is not None

    def relayed(grace: timedelta) -> set[object]:
        found = outbox.jobs_to_publish(
            db_session, current_epoch=None, grace=grace, stale_after=STALE_AFTER
        )
        return {each.id for each in found}

    assert upcoming.id not in relayed(timedelta(seconds=60))
    assert upcoming.id in relayed(timedelta(seconds=-60))  # once its grace has passed


def _stall(db_session: Session, job_id: object) -> None:
    """The worker holding the job stops heartbeating (paused, or cut off) past STALE_AFTER."""
    job = db_session.get(Job, job_id)
    job.heartbeat_at = states.now() - STALE_AFTER * 2
    db_session.flush()


def test_a_stalled_worker_taken_over_cannot_complete_the_stage(db_session: Session) -> None:
    """A stalled worker A, reclaimed and finished by B, must not write over B (#15): its
    completion is fenced out by the attempt it claimed, and B's counts."""
    head = committed_chain(db_session)[0]
    a = claims.begin_stage(db_session, head.id, worker_id="A", stale_after=STALE_AFTER)
    _stall(db_session, head.id)
    b = claims.begin_stage(db_session, head.id, worker_id="B", stale_after=STALE_AFTER)
    db_session.flush()  # B's claim commits in its own transaction
    assert (a.attempt, b.attempt) == (1, 2)

    with pytest.raises(completion.FencedOut):
        completion.complete_stage(db_session, head.id, attempt=a.attempt)

    assert completion.complete_stage(db_session, head.id, attempt=b.attempt) is not None
    job = db_session.get(Job, head.id, populate_existing=True)
    assert (job.status, job.worker_id) == ("completed", "B")


def test_a_stalled_worker_taken_over_cannot_fail_the_document(db_session: Session) -> None:
    head = committed_chain(db_session)[0]
    a = claims.begin_stage(db_session, head.id, worker_id="A", stale_after=STALE_AFTER)
    _stall(db_session, head.id)
    claims.begin_stage(db_session, head.id, worker_id="B", stale_after=STALE_AFTER)
    db_session.flush()

    error = completion.record_failure(
        db_session,
        head.id,
        PermanentError("scripted"),
        retry_count=0,
        next_retry_at=None,
        final=True,
        worker_id="A",
        attempt=a.attempt,
    )

    assert error is not None and error.is_final  # the failure is filed all the same
    job = db_session.get(Job, head.id, populate_existing=True)
    assert (job.status, job.worker_id) == ("running", "B")
    shell_file = db_session.get(ShellFile, head.shell_file_id, populate_existing=True)
    assert shell_file.status == "processing"


def test_a_cancelled_runs_stage_output_does_not_count(db_session: Session) -> None:
    head = committed_chain(db_session)[0]
    claim = claims.begin_stage(db_session, head.id, worker_id="A", stale_after=STALE_AFTER)
    shell_file = db_session.get(ShellFile, head.shell_file_id)
    enqueue.cancel_run(db_session, shell_file)

    with pytest.raises(completion.FencedOut):
        completion.complete_stage(db_session, head.id, attempt=claim.attempt)
