"""Faults survived: a worker asked to stop, Redis restarted mid-processing, PostgreSQL
restarted under running workers. Each test owns a whole `Stack` (database, Redis,
beat, workers) so it can break things without touching the session's services."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import PostgresCluster
from tests.support.services import drop_database, fresh_database
from tests.support.stack import Stack

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack on a fresh database of the machine's PostgreSQL."""
    name = f"sfp_stack_{uuid.uuid4().hex[:8]}"
    built = Stack(tmp_path, fresh_database(name))
    try:
        yield built.start()
    finally:
        built.close()
        drop_database(name)


def wait_for_key(stack: Stack, key: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = stack.redis.get(key)
        if value:
            return str(value)
        time.sleep(0.05)
    raise AssertionError(f"{key} never appeared")


def test_sigterm_lets_the_running_stage_finish_and_loses_nothing_queued(stack: Stack) -> None:
    worker = stack.worker(concurrency=1)
    running = stack.scripted_run([("fast", "sleep 3"), ("ai", "ok")])
    waiting = stack.scripted_run([("fast", "ok"), ("ai", "ok")])
    wait_for_key(stack, f"pid:{running.job_ids[0]}")

    exit_code = worker.stop(signal.SIGTERM, timeout=60)  # Celery's warm shutdown

    assert exit_code == 0, worker.log_tail()
    first, second = stack.jobs(running.shell_file_id)
    assert (first.status, first.attempts) == ("completed", 1), "the running stage finished"
    assert second.status == "queued"
    # Another worker picks up where the stopped one left off.
    stack.worker(concurrency=1)
    ids = [running.shell_file_id, waiting.shell_file_id]
    assert stack.wait_until_settled(ids, timeout=60) == dict.fromkeys(ids, "completed")
    for run in (running, waiting):
        assert [job.attempts for job in stack.jobs(run.shell_file_id)] == [1, 1]
        assert [stack.runs_of(job_id) for job_id in run.job_ids] == [1, 1], "nothing ran twice"
    assert stack.error_types(ids) == {}


def test_redis_restarted_mid_processing_every_document_completes(stack: Stack) -> None:
    worker = stack.worker(concurrency=2)
    runs = [
        stack.scripted_run([("fast", "sleep 1"), ("fast", "ok"), ("ai", "ok")]) for _ in range(8)
    ]
    wait_for_key(stack, f"pid:{runs[0].job_ids[0]}")

    for restart in range(2):  # twice; the same worker must ride out both
        stack.redis_server.stop()  # every message in Redis is gone: it keeps nothing on disk
        time.sleep(3)
        stack.redis_server.start()
        worker.wait_for_count("Connected to redis", restart + 2, timeout=30)
    back_at = time.monotonic()

    ids = [run.shell_file_id for run in runs]
    statuses = stack.wait_until_settled(ids, timeout=60)
    assert statuses == dict.fromkeys(ids, "completed"), statuses
    assert time.monotonic() - back_at < 60
    for run in runs:
        assert [job.status for job in stack.jobs(run.shell_file_id)] == ["completed"] * 3
    assert worker.process.poll() is None, f"the worker died:\n{worker.log_tail()}"


def test_a_retry_that_cannot_reach_the_broker_waits_for_it(stack: Stack) -> None:
    worker = stack.worker(concurrency=1)
    run = stack.scripted_run([("fast", "sleep-then-fail 2"), ("ai", "ok")])
    wait_for_key(stack, f"pid:{run.job_ids[0]}")

    stack.redis_server.stop()  # the stage fails while Redis is down: its retry cannot be sent
    worker.wait_for_line("celery.exceptions.Reject", timeout=30)
    first = stack.jobs(run.shell_file_id)[0]
    assert first.status == "retrying", "a retry the broker did not take is not a final failure"
    stack.redis_server.start()

    statuses = stack.wait_until_settled([run.shell_file_id], timeout=60)
    assert statuses == {run.shell_file_id: "completed"}
    first, _ = stack.jobs(run.shell_file_id)
    assert first.attempts == 2
    assert stack.error_types([run.shell_file_id]) == {"api_error": 1}


def test_postgresql_restarted_under_running_workers_fails_no_document(tmp_path: Path) -> None:
    cluster = PostgresCluster()
    cluster.init()
    cluster.start()
    # Production's retry schedule (2, 4, …, 64 s): an outage of seconds is well inside it.
    stack = Stack(
        tmp_path / "stack",
        cluster.create_database("faults"),
        STAGE_RETRY_BACKOFF="2",
        STAGE_MAX_RETRIES="6",
    )
    try:
        stack.start()
        stack.worker(concurrency=2)
        runs = [
            stack.scripted_run([("fast", "sleep 1"), ("fast", "sleep 0.5"), ("ai", "ok")])
            for _ in range(6)
        ]
        wait_for_key(stack, f"pid:{runs[0].job_ids[0]}")

        cluster.restart(down_for=3)

        ids = [run.shell_file_id for run in runs]
        statuses = stack.wait_until_settled(ids, timeout=150)
        assert statuses == dict.fromkeys(ids, "completed"), statuses
        # The outage was felt (stages retried), yet no stage ended final.
        run_jobs = [job for run in runs for job in stack.jobs(run.shell_file_id)]
        assert all(job.status == "completed" for job in run_jobs)
        assert any(job.attempts > 1 for job in run_jobs), "no stage met the outage"
    finally:
        stack.close()
        cluster.destroy()
