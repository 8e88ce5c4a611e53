"""A worker process killed in the middle of a stage: the heartbeat reclaim sends the stage
again, the document completes, and nothing after it runs twice."""

from __future__ import annotations

import os
import signal
import time

import pytest
from sqlalchemy import select

from app.models import AuditLog
from tests.support.pipeline import errors_of, jobs_of, start_scripted_run, wait_for_status

pytestmark = [pytest.mark.usefixtures("worker"), pytest.mark.slow]


def wait_for_pid(broker_client, job_id, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = broker_client.get(f"pid:{job_id}")
        if pid:
            return int(pid)
        time.sleep(0.05)
    raise AssertionError("the stage never started")


def test_a_killed_worker_process_loses_no_stage(app, broker_client) -> None:
    run = start_scripted_run(
        app, broker_client, [("fast", "ok"), ("fast", "sleep-once 30"), ("ai", "ok")]
    )
    pid = wait_for_pid(broker_client, run.job_ids[1])
    killed_at = time.monotonic()

    os.kill(pid, signal.SIGKILL)

    shell_file = wait_for_status(app, run.shell_file_id, timeout=60)
    recovered_in = time.monotonic() - killed_at
    assert shell_file.status == "completed"
    assert recovered_in < 60
    first, killed, last = jobs_of(app, run.shell_file_id)
    assert (killed.status, killed.attempts) == ("completed", 2)
    assert (first.attempts, last.attempts) == (1, 1)
    # The killed stage ran twice; the stage after it ran once.
    assert broker_client.llen(f"ran:{run.job_ids[1]}") == 2
    assert broker_client.llen(f"ran:{run.job_ids[2]}") == 1
    (lost,) = errors_of(app, run.shell_file_id)
    assert (lost.stage, lost.error_type, lost.is_final) == ("step1", "worker_lost", False)


def test_a_paused_worker_taken_over_writes_nothing_when_it_resumes(
    app, broker_client, worker
) -> None:
    """A worker paused (SIGSTOP) past STALE_AFTER is taken over; the document completes on
    the later attempt. When the paused one resumes, its output is fenced out and dropped:
    it neither counts nor lands (#15)."""
    run = start_scripted_run(
        app, broker_client, [("fast", "ok"), ("fast", "stall-once 2"), ("ai", "ok")]
    )
    pid = wait_for_pid(broker_client, run.job_ids[1])
    os.kill(pid, signal.SIGSTOP)
    try:
        shell_file = wait_for_status(app, run.shell_file_id, timeout=60)
    finally:
        os.kill(pid, signal.SIGCONT)
    worker.wait_for_line(f"job {run.job_ids[1]}: taken over or ended meanwhile", timeout=30)

    assert shell_file.status == "completed"
    _, stalled, _ = jobs_of(app, run.shell_file_id)
    assert (stalled.status, stalled.attempts) == ("completed", 2)
    assert broker_client.llen(f"ran:{run.job_ids[2]}") == 1  # what follows ran once
    with app.extensions["db"].session() as session:
        outputs = session.scalars(
            select(AuditLog.reason).where(AuditLog.record_id == str(run.job_ids[1]))
        ).all()
    assert outputs == ["scripted output of attempt 2"]
