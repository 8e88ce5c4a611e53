"""Stages for testing the engine itself, loaded into the test worker with `--include`.

They run through the same `StageTask` base and `run_stage` as the real stages.
What each does is read from a plan in Redis (`plan:<job_id>`), and where it ran
is written back (`ran:<job_id>`), so a test can script failures and check routing.

Plans: "ok", "transient N" (fail with a transient error on the first N attempts),
"permanent", "quarantine", "sleep S", "sleep-once S" (only on the first attempt),
"sleep-then-fail S" (a transient failure after S seconds, on the first attempt); a
sleeping stage leaves its process id at `pid:<job_id>`, for a test to kill.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis
from celery import shared_task
from sqlalchemy.orm import Session

from app.audit import log_audit_event
from app.pipeline.errors import ApiError, PermanentError, SecurityRejected
from tasks.base import Save, StageContext, StageTask, run_stage


def _redis(task: Any) -> redis.Redis:
    return redis.Redis.from_url(task.app.conf.broker_url, decode_responses=True)


def scripted(task: Any, job_id: str) -> Any:
    def work(context: StageContext) -> Save:
        client = _redis(task)
        queue = (task.request.delivery_info or {}).get("routing_key", "?")
        attempt = client.rpush(f"ran:{job_id}", queue)
        plan = (client.get(f"plan:{job_id}") or "ok").split()
        if plan[0] == "transient" and attempt <= int(plan[1]):
            raise ApiError("scripted transient failure")
        if plan[0] == "permanent":
            raise PermanentError("scripted permanent failure")
        if plan[0] == "foreign":  # a library's error quoting what it choked on
            raise ValueError(f"could not parse {' '.join(plan[1:])!r}")
        if plan[0] == "quarantine":
            raise SecurityRejected("scripted rejection")
        if plan[0] == "stall-once":  # attempt 1 sleeps (to be paused); each saves a row
            if attempt == 1:
                client.set(f"pid:{job_id}", os.getpid())
                time.sleep(float(plan[1]))
            return _audited_output(job_id, attempt)
        if plan[0] == "sleep" or (plan[0] in ("sleep-once", "sleep-then-fail") and attempt == 1):
            client.set(f"pid:{job_id}", os.getpid())
            time.sleep(float(plan[1]))
            if plan[0] == "sleep-then-fail":
                raise ApiError("scripted transient failure after a while")
        return lambda session: None

    return work


def _audited_output(job_id: str, attempt: int) -> Save:
    """An output that shows in the database: an audit row naming the attempt that wrote it."""

    def save(session: Session) -> None:
        log_audit_event(
            session,
            operation="update",
            table_name="job_queue",
            record_id=job_id,
            patient_id=None,
            reason=f"scripted output of attempt {attempt}",
            compliance_category="administration",
        )

    return save


@shared_task(bind=True, base=StageTask, name="fast.test_stage")
def fast_test_stage(self: StageTask, job_id: str) -> str | None:
    return run_stage(self, job_id, scripted(self, job_id))


@shared_task(
    bind=True, base=StageTask, name="fast.test_slow_stage", soft_time_limit=1, time_limit=5
)
def fast_test_slow_stage(self: StageTask, job_id: str) -> str | None:
    """A stage with a one-second soft limit, for poison documents that hang it."""
    return run_stage(self, job_id, scripted(self, job_id))


@shared_task(bind=True, base=StageTask, name="ai.test_stage")
def ai_test_stage(self: StageTask, job_id: str) -> str | None:
    return run_stage(self, job_id, scripted(self, job_id))
