"""Publishing after commit: queued jobs reach the broker; published marks are written in batches."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from celery.signals import before_task_publish
from sqlalchemy.orm import Session

from app.models import Job
from app.runs import enqueue, outbox
from app.runs.dispatch import Dispatcher, send_job
from tests.support.factories import make_account, make_profile, make_shell_file


def committed_chain(session: Session) -> list[enqueue.QueuedJob]:
    account, _ = make_account(session)
    profile = make_profile(session, account)
    shell_file = make_shell_file(session, profile.id, account.id)
    return enqueue.enqueue_pipeline(session, shell_file)


def test_send_job_sends_the_message_a_signature_sends(app, db_session: Session) -> None:
    """`send_job` skips the canvas; what reaches the broker must not change. A message
    runs one stage and names its job alone: no chain rides along."""
    celery_app = app.extensions["celery"]
    (head,) = committed_chain(db_session)
    db_session.commit()
    sent: list[dict[str, Any]] = []

    def capture(sender: str, body: Any, headers: dict[str, Any], **extra: Any) -> None:
        args, kwargs, embed = json.loads(json.dumps(body))  # as it goes on the wire
        sent.append(
            {"task": sender, "args": args, "kwargs": kwargs, "embed": embed, "headers": headers}
            | {"routing_key": extra["routing_key"], "exchange": extra["exchange"]}
        )

    before_task_publish.connect(capture)
    try:
        send_job(celery_app, head)
        # A second delivery of the same job: the engine skips what already ran.
        celery_app.signature(head.job_name, kwargs={"job_id": str(head.id)}, immutable=True).set(
            task_id=str(head.id), priority=head.priority - 1
        ).apply_async(retry=False)
    finally:
        before_task_publish.disconnect(capture)

    ours, canvas = sent
    assert ours["task"] == "fast.scan_shell_file" and ours["routing_key"] == "fast"
    assert ours["kwargs"] == {"job_id": str(head.id)} and ours["embed"]["chain"] is None
    assert ours == canvas


def test_marks_under_load_are_written_together(app, db_session: Session) -> None:
    dispatcher = Dispatcher(app.extensions["celery"], app.extensions["db"], mark_interval=30)
    chains = [committed_chain(db_session) for _ in range(3)]
    db_session.commit()

    for chain in chains:
        assert dispatcher.publish_after_commit(chain)

    heads = [db_session.get(Job, chain[0].id) for chain in chains]
    for head in heads:
        db_session.refresh(head)
    # The first mark was due at once; the next two wait for the batch.
    assert [head.published_at is not None for head in heads] == [True, False, False]

    dispatcher.flush_marks()

    for head in heads:
        db_session.refresh(head)
    assert all(head.published_at and head.broker_epoch == dispatcher.epoch() for head in heads)


def test_a_worker_queueing_the_next_stage_leaves_its_mark_to_the_batch(
    app, db_session: Session
) -> None:
    """A stage's worker publishes the next stage with `defer_mark`: even a first mark after
    a quiet spell waits for the batch instead of adding a transaction to the stage."""
    dispatcher = Dispatcher(app.extensions["celery"], app.extensions["db"], mark_interval=30)
    (head,) = committed_chain(db_session)
    db_session.commit()

    assert dispatcher.publish_after_commit([head], defer_mark=True)

    job = db_session.get(Job, head.id)
    db_session.refresh(job)
    assert job.published_at is None
    dispatcher.flush_marks()
    db_session.refresh(job)
    assert job.published_at is not None and job.broker_epoch == dispatcher.epoch()


def test_a_broker_outage_leaves_jobs_to_the_relay(app, db_session: Session, redis_server) -> None:
    dispatcher = Dispatcher(app.extensions["celery"], app.extensions["db"])
    chain = committed_chain(db_session)
    db_session.commit()
    redis_server.stop()
    try:
        assert dispatcher.publish_after_commit(chain) is False
        # While the broker is down, later uploads do not even try for a moment.
        assert dispatcher.publish_after_commit(committed_chain(db_session)) is False
    finally:
        redis_server.start()
    head = db_session.get(Job, chain[0].id)
    db_session.refresh(head)
    assert head.published_at is None and head.status == "queued"


def test_the_relay_reads_the_epoch_afresh_after_a_redis_restart(
    app, db_session: Session, redis_server
) -> None:
    """A job published to the new server and marked with its epoch is not sent again by
    a relay whose cached epoch predates the restart (#15: a stage delivered twice)."""
    dispatcher = Dispatcher(app.extensions["celery"], app.extensions["db"], epoch_ttl=3600)
    before = dispatcher.epoch()  # cached, for an hour
    redis_server.stop()
    redis_server.start()
    (head,) = committed_chain(db_session)
    db_session.commit()
    after = str(redis_server.client().info("server")["run_id"])
    assert after != before
    outbox.mark_published(db_session, [head.id], after)  # as the upload's publish did
    db_session.commit()

    dispatcher.relay(grace=timedelta(0), stale_after=timedelta(hours=1))

    db_session.refresh(job := db_session.get(Job, head.id))
    assert job is not None and job.broker_epoch == after  # not sent (and marked) again


def test_enqueue_job_v3_joins_the_callers_transaction(app, db_session: Session) -> None:
    chain = committed_chain(db_session)
    db_session.commit()
    payload = {"shell_file_id": str(chain[0].shell_file_id), "stage_index": 0, "run": 9}

    job_id = enqueue.enqueue_job_v3(
        "security_scan", "fast.scan_shell_file", payload, priority=2, session=db_session
    )

    job = db_session.get(Job, job_id)
    assert (job.job_lane, job.status, job.priority, job.run_number) == ("fast", "queued", 2, 9)
    db_session.rollback()  # the caller's transaction decides: rolled back, the job is gone
    assert db_session.get(Job, job_id) is None
