"""Operator commands on jobs: dead letters, requeue, stuck jobs, pruning."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import Job, ShellFile
from app.runs import enqueue
from tests.support.factories import make_account, make_profile, make_shell_file


def document(session: Session, status: str = "failed") -> ShellFile:
    account, _ = make_account(session)
    profile = make_profile(session, account)
    shell_file = make_shell_file(session, profile.id, account.id, run_number=1, status=status)
    enqueue.enqueue_pipeline(session, shell_file)
    return shell_file


def set_job(session: Session, shell_file: ShellFile, stage: str, **values) -> Job:
    session.execute(
        update(Job)
        .where(Job.shell_file_id == shell_file.id, Job.job_type == stage)
        .values(**values)
    )
    return session.scalar(
        select(Job).where(Job.shell_file_id == shell_file.id, Job.job_type == stage)
    )


def run(app, *args: str) -> dict:
    result = app.test_cli_runner().invoke(args=["jobs", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def dead(db_session: Session):
    shell_file = document(db_session)
    set_job(db_session, shell_file, "security_scan", status="completed")
    job = set_job(
        db_session,
        shell_file,
        "ocr",
        status="dead_letter",
        attempts=7,
        dead_letter_at=datetime.now(UTC),
        last_error="worker_lost",
    )
    db_session.commit()
    return shell_file, job


def test_dead_letters_are_listed_and_requeued_from_their_stage(app, db_session, dead) -> None:
    shell_file, job = dead
    listed = run(app, "dead")["jobs"]
    assert [(j["job_id"], j["stage"]) for j in listed] == [(str(job.id), "ocr")]

    answer = run(app, "requeue", "--job-id", str(job.id))

    assert answer == {"requeued": [str(shell_file.id)], "published": 1}
    db_session.expire_all()
    assert (shell_file.run_number, shell_file.status) == (2, "processing")
    second = enqueue.run_jobs(db_session, shell_file.id, 2)
    assert [(j.job_type, j.status) for j in second[:3]] == [
        ("security_scan", "completed"),
        ("ocr", "queued"),
        ("spatial_mapping", "waiting"),
    ]


def test_requeue_needs_a_target(app) -> None:
    result = app.test_cli_runner().invoke(args=["jobs", "requeue"])
    assert result.exit_code != 0


def test_stuck_jobs_are_published_again(app, db_session: Session) -> None:
    shell_file = document(db_session, status="uploaded")
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    head = set_job(
        db_session, shell_file, "security_scan", published_at=long_ago, created_at=long_ago
    )
    db_session.commit()

    answer = run(app, "requeue-stuck", "--older-than", "600")

    assert str(head.id) in answer["requeued"]
    db_session.refresh(head)
    assert head.published_at > long_ago


def test_old_completed_rows_are_pruned(app, db_session: Session) -> None:
    shell_file = document(db_session, status="completed")
    old = set_job(
        db_session,
        shell_file,
        "security_scan",
        status="completed",
        completed_at=datetime.now(UTC) - timedelta(days=40),
    )
    recent = set_job(
        db_session,
        shell_file,
        "ocr",
        status="completed",
        completed_at=datetime.now(UTC) - timedelta(days=1),
    )
    old_id, recent_id = old.id, recent.id
    db_session.commit()

    assert run(app, "prune", "--older-than-days", "30")["pruned"] >= 1

    db_session.expire_all()
    assert db_session.get(Job, old_id) is None
    assert db_session.get(Job, recent_id) is not None
