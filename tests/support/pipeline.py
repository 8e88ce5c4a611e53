"""Helpers for tests that run documents through the session's real worker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import select

from app.models import Job, ProcessingError, ShellFile
from app.pipeline import StageSpec
from app.runs import enqueue
from tests.support.factories import make_account, make_profile, make_shell_file

TERMINAL = ("completed", "failed", "quarantined", "cancelled", "archived")


def scripted_stages(lanes: Sequence[str]) -> tuple[StageSpec, ...]:
    """Scripted stages (tests.support.stage_tasks) in order: a lane ("fast", "ai") runs
    `<lane>.test_stage`; a task name ("fast.test_slow_stage") runs that task."""
    return tuple(
        StageSpec(f"step{index}", lane.split(".")[0], lane if "." in lane else f"{lane}.test_stage")
        for index, lane in enumerate(lanes)
    )


@dataclass
class Run:
    shell_file_id: uuid.UUID
    job_ids: list[uuid.UUID]
    token: str = ""
    patient_id: uuid.UUID | None = None
    account_id: uuid.UUID | None = None


def start_scripted_run(
    app: Flask,
    redis_client: object,
    plans: Sequence[tuple[str, str]],
    *,
    priority: int = 5,
    same_profile_as: Run | None = None,
) -> Run:
    """Commit a shell file whose run is the scripted stages [(lane, plan), …]; publish it.
    It goes into a new profile, or into the profile of `same_profile_as`."""
    db = app.extensions["db"]
    with db.session() as session:
        if same_profile_as is None:
            account, token = make_account(session)
            patient_id, account_id = make_profile(session, account).id, account.id
        else:
            token = same_profile_as.token
            patient_id, account_id = same_profile_as.patient_id, same_profile_as.account_id
        shell_file = make_shell_file(
            session,
            patient_id,
            account_id,
            original_filename="scripted.txt",
            mime_type="text/plain",
            processing_priority=priority,
        )
        queued = enqueue.enqueue_pipeline(
            session, shell_file, stages=scripted_stages([lane for lane, _ in plans]), max_retries=3
        )
        run = enqueue.run_jobs(session, shell_file.id, shell_file.run_number)
        job_ids = [job.id for job in run]
    for job_id, (_, plan) in zip(job_ids, plans, strict=True):
        redis_client.set(f"plan:{job_id}", plan)  # type: ignore[attr-defined]
    assert app.extensions["dispatcher"].publish_after_commit(queued)
    return Run(shell_file.id, job_ids, token, patient_id, account_id)


def wait_for_status(
    app: Flask, shell_file_id: uuid.UUID, statuses: Sequence[str] = TERMINAL, timeout: float = 60
) -> ShellFile:
    db = app.extensions["db"]
    deadline = time.monotonic() + timeout
    while True:
        with db.session() as session:
            shell_file = session.get(ShellFile, shell_file_id)
            assert shell_file is not None
            if shell_file.status in statuses:
                return shell_file
        if time.monotonic() > deadline:
            raise AssertionError(
                f"shell file stayed {shell_file.status} for {timeout}s; wanted {statuses}"
            )
        time.sleep(0.1)


def jobs_of(app: Flask, shell_file_id: uuid.UUID) -> list[Job]:
    with app.extensions["db"].session() as session:
        return list(
            session.scalars(
                select(Job)
                .where(Job.shell_file_id == shell_file_id)
                .order_by(Job.run_number, Job.stage_index)
            )
        )


def errors_of(app: Flask, shell_file_id: uuid.UUID) -> list[ProcessingError]:
    with app.extensions["db"].session() as session:
        return list(
            session.scalars(
                select(ProcessingError)
                .where(ProcessingError.shell_file_id == shell_file_id)
                .order_by(ProcessingError.id)
            )
        )
