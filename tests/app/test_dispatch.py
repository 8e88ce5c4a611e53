"""Publishing after commit: chains reach the broker; published marks are written in batches."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app import jobs
from app.dispatch import Dispatcher
from app.models import Job
from tests.support.factories import make_account, make_profile, make_shell_file


def committed_chain(session: Session) -> list[jobs.ChainLink]:
    account, _ = make_account(session)
    profile = make_profile(session, account)
    shell_file = make_shell_file(session, profile.id, account.id)
    return jobs.enqueue_pipeline(session, shell_file)


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


def test_enqueue_job_v3_joins_the_callers_transaction(app, db_session: Session) -> None:
    chain = committed_chain(db_session)
    db_session.commit()
    payload = {"shell_file_id": str(chain[0].shell_file_id), "stage_index": 0, "run": 9}

    job_id = jobs.enqueue_job_v3(
        "security_scan", "fast.scan_shell_file", payload, priority=2, session=db_session
    )

    job = db_session.get(Job, job_id)
    assert (job.job_lane, job.status, job.priority, job.run_number) == ("fast", "queued", 2, 9)
    db_session.rollback()  # the caller's transaction decides: rolled back, the job is gone
    assert db_session.get(Job, job_id) is None
