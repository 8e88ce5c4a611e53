"""No-op tasks for bench/engine_overhead.py, loaded into the workers with
`--include bench.noop_tasks`.

- `fast.bench_noop` / `ai.bench_noop`: stages through the engine, exactly like the
  real ones (`StageTask` base, `run_stage`: claim under a row lock, heartbeat
  thread, complete in a transaction, chain continues), whose work does nothing.
- `fast.bench_raw` / `ai.bench_raw`: plain Celery tasks (`celery.Task`, no Flask
  app context, no database) that do nothing; given `mark`, the task pushes
  "<doc_id> <unix time>" to that Redis list, so the benchmark learns when a raw
  chain ended.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from celery import Task, shared_task

from tasks.base import Save, StageContext, StageTask, run_stage


def _nothing(_context: StageContext) -> Save:
    return lambda _session: None


@shared_task(bind=True, base=StageTask, name="fast.bench_noop")
def fast_bench_noop(self: StageTask, shell_file_id: str, job_id: str) -> str | None:
    return run_stage(self, job_id, _nothing)


@shared_task(bind=True, base=StageTask, name="ai.bench_noop")
def ai_bench_noop(self: StageTask, shell_file_id: str, job_id: str) -> str | None:
    return run_stage(self, job_id, _nothing)


_clients: dict[str, redis.Redis] = {}


def _mark(task: Any, key: str, doc_id: str) -> None:
    url = task.app.conf.broker_url
    client = _clients.get(url)
    if client is None:  # one per (forked) pool process
        client = _clients[url] = redis.Redis.from_url(url)
    client.rpush(key, f"{doc_id} {time.time():.6f}")


@shared_task(bind=True, base=Task, name="fast.bench_raw")
def fast_bench_raw(self: Task, doc_id: str, mark: str | None = None) -> None:
    if mark:
        _mark(self, mark, doc_id)


@shared_task(bind=True, base=Task, name="ai.bench_raw")
def ai_bench_raw(self: Task, doc_id: str, mark: str | None = None) -> None:
    if mark:
        _mark(self, mark, doc_id)
