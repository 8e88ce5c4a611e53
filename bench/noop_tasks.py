"""No-op tasks for bench/engine_overhead.py and engine_phases.py, loaded into the workers
with `--include bench.noop_tasks`, and the documents whose runs are made of them.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis
from celery import Task, shared_task

from tasks.base import Save, StageContext, StageTask, run_stage


def _nothing(_context: StageContext) -> Save:
    return lambda _session: None


@shared_task(bind=True, base=StageTask, name="fast.bench_noop")
def fast_bench_noop(self: StageTask, job_id: str) -> str | None:
    return run_stage(self, job_id, _nothing)


@shared_task(bind=True, base=StageTask, name="ai.bench_noop")
def ai_bench_noop(self: StageTask, job_id: str) -> str | None:
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


# --------------------------------------------------------------------------- the benchmark's side

LANES = ("fast", "fast", "fast", "ai", "ai", "ai")


@dataclass
class Context:
    """The app objects the engine benchmarks publish and poll with, in this process."""

    flask_app: Any
    celery: Any
    dispatcher: Any
    db: Any
    redis: Any
    account_id: uuid.UUID
    profile_id: uuid.UUID


def engine_context(env: Any, identity: Any) -> Context:
    """This process's app on the benchmark's services (`harness.BenchEnv`, `Identity`)."""
    env.apply_to_this_process()
    from app import create_app

    flask_app = create_app()
    ext = flask_app.extensions
    return Context(flask_app, ext["celery"], ext["dispatcher"], ext["db"], env.redis(),
                   uuid.UUID(identity.account_id), uuid.UUID(identity.profile_id))  # fmt: skip


def create_docs(ctx: Context, count: int) -> list[tuple[uuid.UUID, list[Any]]]:
    """Commit `count` shell files, each with six no-op job rows (3 fast + 3 ai stages that
    go through `StageTask`/`run_stage`); return (id, chain links) of each."""
    import app.runs.enqueue
    from app.models import ShellFile
    from app.pipeline import StageSpec

    stages = tuple(
        StageSpec(f"bench{i}", lane, f"{lane}.bench_noop") for i, lane in enumerate(LANES)
    )
    made = []
    with ctx.db.session() as session:
        for _ in range(count):
            shell_file = ShellFile(
                id=uuid.uuid4(), patient_id=ctx.profile_id, uploaded_by=ctx.account_id,
                original_filename="bench.txt", mime_type="text/plain", file_size_bytes=1,
                sha256=uuid.uuid4().hex * 2, storage_key="db:none", status="uploaded",
                processing_priority=5, run_number=1,
            )  # fmt: skip
            session.add(shell_file)
            session.flush()
            made.append(
                (
                    shell_file.id,
                    list(app.runs.enqueue.enqueue_pipeline(session, shell_file, stages=stages)),
                )
            )
    return made
