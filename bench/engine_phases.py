"""Where an engine stage's time goes: no-op stages run in-process, phase by phase.

The engine's functions are wrapped at run time (no app file is changed) with the
clock of bench/upload_phases.py: exclusive wall and CPU (`thread_time`) time per
phase. Stages run one at a time with Celery's eager `Task.apply` (the task's
`StageTask.__call__`, app context and `run_stage`, without a broker or a worker
process), so this is the bookkeeping the engine adds to every stage, on top of
what Celery itself costs (which a raw task pays too; its eager cost is printed).

Used by bench/engine_overhead.py; runnable alone: `.venv/bin/python -m bench.engine_phases`.
"""

from __future__ import annotations

import argparse
import functools
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.common import fmt, markdown_table
from bench.upload_phases import PhaseClock, _timed, describe_statement

ROOT = "Celery eager call + app context + StageTask (other)"
RUN_STAGE = "run_stage (other)"
BEGIN = "begin_stage (other)"
CLAIM = "claim_at_once (autocommit claim)"
COMPLETE = "complete_stage (other)"
CONTAINERS = frozenset({ROOT, RUN_STAGE, BEGIN, CLAIM, COMPLETE})


def instrument(flask_app: Any, clock: PhaseClock) -> Callable[[], None]:
    from sqlalchemy.orm import Session, SessionTransaction

    import app.jobs
    import bench.noop_tasks
    import tasks.base

    undo: list[Callable[[], None]] = []

    def wrap(owner: Any, name: str, label: str, *, weak: bool = False) -> None:
        if not hasattr(owner, name):  # not in this version of the code
            return
        own = not isinstance(owner, type) or name in owner.__dict__
        original = getattr(owner, name)
        setattr(owner, name, _timed(clock, label, original, weak=weak))
        undo.append(lambda: setattr(owner, name, original) if own else delattr(owner, name))

    def wrap_get() -> None:
        original = Session.get

        @functools.wraps(original)
        def get(self: Any, entity: Any, ident: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != clock.owner or clock.top not in clock.containers:
                return original(self, entity, ident, **kwargs)
            lock = " FOR UPDATE" if kwargs.get("with_for_update") else ""
            clock.enter(f"SELECT {getattr(entity, '__tablename__', entity)}{lock} (session.get)")
            try:
                return original(self, entity, ident, **kwargs)
            finally:
                clock.leave()

        Session.get = get  # type: ignore[method-assign]
        undo.append(lambda: setattr(Session, "get", original))

    def wrap_sql(name: str) -> None:
        original = getattr(Session, name)

        @functools.wraps(original)
        def wrapper(self: Any, statement: Any, *args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != clock.owner or clock.top not in clock.containers:
                return original(self, statement, *args, **kwargs)
            clock.enter(describe_statement(statement))
            try:
                return original(self, statement, *args, **kwargs)
            finally:
                clock.leave()

        setattr(Session, name, wrapper)
        undo.append(lambda: setattr(Session, name, original))

    wrap(bench.noop_tasks, "run_stage", RUN_STAGE)
    wrap(app.jobs, "begin_stage", BEGIN)
    wrap(app.jobs, "claim_at_once", CLAIM)
    wrap(app.jobs, "complete_stage", COMPLETE)
    wrap(app.jobs, "run_jobs", "run_jobs: load every job row of the run")
    wrap(tasks.base.Heartbeats, "track", "heartbeat tracking (shared thread)")
    wrap(tasks.base, "_epoch_or_none", "broker epoch (Redis INFO, cached 5 s)")
    wrap(SessionTransaction, "commit", "flush pending UPDATEs + COMMIT", weak=True)
    wrap_get()
    for method in ("execute", "scalars", "scalar"):
        wrap_sql(method)
    dialect = flask_app.extensions["db"].engine.dialect
    # `app.db` pings a pooled connection only after it sat idle (`dialect.do_ping`).
    original_ping = dialect.do_ping
    dialect.do_ping = _timed(clock, "pool ping (idle connection)", original_ping, weak=False)
    undo.append(lambda: delattr(dialect, "do_ping"))

    def restore() -> None:
        for step in reversed(undo):
            step()

    return restore


def _run_docs(docs: list[tuple[uuid.UUID, list[Any]]], clock: PhaseClock | None) -> dict[str, Any]:
    import bench.noop_tasks as noop

    wall = cpu = 0.0
    stages = 0
    for shell_file_id, chain in docs:
        for link in chain:
            task = noop.fast_bench_noop if link.job_name.startswith("fast") else noop.ai_bench_noop
            w0, c0 = time.perf_counter(), time.thread_time()
            if clock is not None:
                clock.enter(ROOT)
            try:
                result = task.apply(
                    kwargs={"shell_file_id": str(shell_file_id), "job_id": str(link.id)},
                    task_id=str(link.id),
                )
            finally:
                if clock is not None:
                    clock.leave()
            wall += time.perf_counter() - w0
            cpu += time.thread_time() - c0
            stages += 1
            if not result.successful():
                raise RuntimeError(f"stage failed in-process: {result.traceback}")
    return {"stages": stages, "wall_ms": wall * 1000 / stages, "cpu_ms": cpu * 1000 / stages}


def _run_raw(count: int) -> dict[str, Any]:
    import bench.noop_tasks as noop

    w0, c0 = time.perf_counter(), time.thread_time()
    for _ in range(count):
        noop.fast_bench_raw.apply(kwargs={"doc_id": "x"}, task_id=str(uuid.uuid4()))
    return {
        "tasks": count,
        "wall_ms": (time.perf_counter() - w0) * 1000 / count,
        "cpu_ms": (time.thread_time() - c0) * 1000 / count,
    }


def breakdown(ctx: Any, *, documents: int = 50) -> dict[str, Any]:
    """`documents` x 6 no-op stages in-process: per-phase ms per stage, plus totals."""
    import bench.noop_tasks  # noqa: F401 - registers the tasks with this process's app
    from bench.engine_overhead import create_engine_docs

    _run_docs(create_engine_docs(ctx, 5), None)  # warm-up
    clock = PhaseClock(CONTAINERS)
    restore = instrument(ctx.flask_app, clock)
    try:
        instrumented = _run_docs(create_engine_docs(ctx, documents), clock)
    finally:
        restore()
    plain = _run_docs(create_engine_docs(ctx, documents), None)
    raw = _run_raw(documents * 6)
    stages = instrumented["stages"]
    phases = {
        label: {
            "wall_ms": clock.wall[label] * 1000 / stages,
            "cpu_ms": clock.cpu[label] * 1000 / stages,
            "calls_per_stage": clock.calls[label] / stages,
        }
        for label in clock.wall
    }
    return {
        "stages": stages,
        "engine_instrumented": instrumented,
        "engine_uninstrumented": plain,
        "raw_task_eager": raw,
        "phases": dict(sorted(phases.items(), key=lambda kv: -kv[1]["cpu_ms"])),
    }


def print_breakdown(result: dict[str, Any]) -> None:
    phases = result["phases"]
    total_wall = sum(p["wall_ms"] for p in phases.values())
    total_cpu = sum(p["cpu_ms"] for p in phases.values())
    rows = [
        [
            label,
            fmt(p["wall_ms"], 2),
            fmt(p["cpu_ms"], 2),
            fmt(100 * p["cpu_ms"] / total_cpu if total_cpu else 0.0, 1),
            fmt(p["calls_per_stage"], 1),
        ]
        for label, p in phases.items()
    ]
    rows.append(["**total (instrumented)**", fmt(total_wall, 2), fmt(total_cpu, 2), "100.0", ""])
    plain, raw = result["engine_uninstrumented"], result["raw_task_eager"]
    rows.append(
        [
            "engine stage, not instrumented",
            fmt(plain["wall_ms"], 2),
            fmt(plain["cpu_ms"], 2),
            "",
            "",
        ]
    )
    rows.append(["raw task (eager apply)", fmt(raw["wall_ms"], 2), fmt(raw["cpu_ms"], 2), "", ""])
    print(
        f"\n### Where one engine stage's time goes (in-process, eager, {result['stages']} "
        "no-op stages one at a time)\n"
    )
    print(
        "Exclusive time per phase; CPU is this thread's CPU time. Celery's own message "
        "handling in a worker (paid by raw tasks too) is not in here.\n"
    )
    print(markdown_table(["phase", "wall ms", "CPU ms", "CPU %", "calls/stage"], rows))


def main() -> None:
    from bench.engine_overhead import DB_NAME, REDIS_DB, Context

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=50, help="documents of 6 stages each")
    args = parser.parse_args()
    common.install_signal_handlers()
    with common.bench_env("engine_phases", DB_NAME, REDIS_DB) as env:
        identity = common.create_identity(env, "phases")
        env.apply_to_this_process()
        from app import create_app

        flask_app = create_app()
        ctx = Context(
            flask_app=flask_app,
            celery=flask_app.extensions["celery"],
            dispatcher=flask_app.extensions["dispatcher"],
            db=flask_app.extensions["db"],
            redis=env.redis(),
            account_id=uuid.UUID(identity.account_id),
            profile_id=uuid.UUID(identity.profile_id),
        )
        with flask_app.app_context():
            result = breakdown(ctx, documents=args.documents)
        flask_app.extensions["db"].engine.dispose()
    print_breakdown(result)
    path = common.write_results("engine_phases", {"breakdown": result})
    print(f"\nresults: {path.relative_to(common.PROJECT_ROOT)}")


if __name__ == "__main__":
    main()
