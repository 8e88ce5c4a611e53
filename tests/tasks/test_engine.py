"""The pipeline engine on the session's real worker: routing, retries, error rows, stopping.

Runs scripted stages (tests/support/stage_tasks.py) through the same task base,
claims and chain building as the real stages. Retries here use a 1 s base and 3
retries; the production schedule is checked in test_retry_policy.py.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from tests.support.pipeline import errors_of, jobs_of, start_scripted_run, wait_for_status

pytestmark = pytest.mark.usefixtures("worker")


def test_chain_runs_through_both_queues_in_order(app, broker_client) -> None:
    run = start_scripted_run(
        app, broker_client, [("fast", "ok"), ("fast", "ok"), ("ai", "ok"), ("ai", "ok")]
    )

    shell_file = wait_for_status(app, run.shell_file_id)

    assert shell_file.status == "completed"
    assert shell_file.processing_completed_at is not None
    queues = [broker_client.lrange(f"ran:{job_id}", 0, -1) for job_id in run.job_ids]
    assert queues == [["fast"], ["fast"], ["ai"], ["ai"]]
    run_jobs = jobs_of(app, run.shell_file_id)
    assert [job.status for job in run_jobs] == ["completed"] * 4
    assert all(job.attempts == 1 and job.started_at <= job.completed_at for job in run_jobs)
    # One stage after another: each started after the one before it completed.
    for earlier, later in itertools.pairwise(run_jobs):
        assert earlier.completed_at <= later.started_at
    assert errors_of(app, run.shell_file_id) == []


def test_transient_failures_retry_with_backoff_and_leave_a_row_each(app, broker_client) -> None:
    run = start_scripted_run(
        app, broker_client, [("fast", "ok"), ("ai", "transient 2"), ("ai", "ok")]
    )

    shell_file = wait_for_status(app, run.shell_file_id)

    assert shell_file.status == "completed"
    errors = errors_of(app, run.shell_file_id)
    assert [(e.stage, e.error_type, e.retry_count, e.is_final) for e in errors] == [
        ("step1", "api_error", 1, False),
        ("step1", "api_error", 2, False),
    ]
    # Backoff base 1 s in tests: the waits are 1 s, then 2 s.
    waits = [(e.next_retry_at - e.created_at).total_seconds() for e in errors]
    assert waits == pytest.approx([1, 2], abs=0.5)
    attempts = broker_client.lrange(f"ran:{run.job_ids[1]}", 0, -1)
    assert attempts == ["ai", "ai", "ai"]
    assert jobs_of(app, run.shell_file_id)[1].attempts == 3


def test_exhausted_retries_fail_the_document_and_stop_the_chain(app, broker_client) -> None:
    run = start_scripted_run(app, broker_client, [("fast", "transient 99"), ("ai", "ok")])

    shell_file = wait_for_status(app, run.shell_file_id, timeout=60)

    assert shell_file.status == "failed"
    errors = errors_of(app, run.shell_file_id)
    assert [(e.retry_count, e.is_final) for e in errors] == [
        (1, False),
        (2, False),
        (3, False),
        (3, True),
    ]
    assert errors[-1].next_retry_at is None
    waits = [(e.next_retry_at - e.created_at) for e in errors[:-1]]
    assert [round(w / timedelta(seconds=1)) for w in waits] == [1, 2, 4]
    first, second = jobs_of(app, run.shell_file_id)
    assert (first.status, first.attempts, first.last_error) == ("failed", 4, "api_error")
    assert second.status == "cancelled" and second.attempts == 0
    assert broker_client.llen(f"ran:{run.job_ids[1]}") == 0


def test_permanent_error_fails_at_once_and_stops_the_chain(app, broker_client) -> None:
    run = start_scripted_run(
        app, broker_client, [("fast", "ok"), ("fast", "permanent"), ("ai", "ok")]
    )

    shell_file = wait_for_status(app, run.shell_file_id)

    assert shell_file.status == "failed"
    errors = errors_of(app, run.shell_file_id)
    assert [(e.stage, e.error_type, e.retry_count, e.is_final) for e in errors] == [
        ("step1", "internal_error", 0, True)
    ]
    assert [job.status for job in jobs_of(app, run.shell_file_id)] == [
        "completed",
        "failed",
        "cancelled",
    ]
    assert broker_client.llen(f"ran:{run.job_ids[1]}") == 1
    assert broker_client.llen(f"ran:{run.job_ids[2]}") == 0


def test_rejected_file_is_quarantined(app, broker_client) -> None:
    run = start_scripted_run(app, broker_client, [("fast", "quarantine"), ("fast", "ok")])

    shell_file = wait_for_status(app, run.shell_file_id)

    assert shell_file.status == "quarantined"
    (error,) = errors_of(app, run.shell_file_id)
    assert (error.error_type, error.is_final) == ("security_rejected", True)


def test_a_stage_delivered_twice_runs_once(app, broker_client, worker) -> None:
    run = start_scripted_run(app, broker_client, [("fast", "ok"), ("ai", "ok")])
    wait_for_status(app, run.shell_file_id)

    # Deliver the whole chain again, as a broker redelivery or a relay would, and wait
    # until the worker has taken each second delivery (and skipped it).
    app.extensions["dispatcher"].publish(jobs_of(app, run.shell_file_id))
    for job_id in run.job_ids:
        worker.wait_for_line(f"job {job_id}: stage already completed")
    assert [broker_client.llen(f"ran:{job_id}") for job_id in run.job_ids] == [1, 1]
    assert [job.attempts for job in jobs_of(app, run.shell_file_id)] == [1, 1]
