"""Where an engine stage's time goes: no-op stages run in-process, phase by phase."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from bench import harness, noop_tasks
from bench.noop_tasks import Context, create_docs
from bench.phases import PhaseClock, print_phases

ROOT = "Celery eager call + app context + StageTask (other)"
RUN_STAGE = "run_stage (other)"
BEGIN = "begin_stage (other)"
CLAIM = "claim_at_once (autocommit claim)"
COMPLETE = "complete_stage (other)"


def session_get_label(_session: Any, entity: Any, _ident: Any, **kwargs: Any) -> str:
    lock = " FOR UPDATE" if kwargs.get("with_for_update") else ""
    return f"SELECT {getattr(entity, '__tablename__', entity)}{lock} (session.get)"


def instrument(flask_app: Any, clock: PhaseClock) -> None:
    """Wrap the engine's functions (undone by `clock.restore()`)."""
    from sqlalchemy.orm import Session, SessionTransaction

    import app.runs.claims
    import app.runs.completion
    import tasks.base

    clock.wrap(noop_tasks, "run_stage", RUN_STAGE)
    clock.wrap(app.runs.claims, "begin_stage", BEGIN)
    clock.wrap(app.runs.claims, "claim_at_once", CLAIM)
    clock.wrap(app.runs.completion, "complete_stage", COMPLETE)
    clock.wrap(tasks.base.Heartbeats, "track", "heartbeat tracking (shared thread)")
    clock.wrap(tasks.base, "_epoch_or_none", "broker epoch (Redis INFO, cached 5 s)")
    clock.wrap(SessionTransaction, "commit", "flush pending UPDATEs + COMMIT", weak=True)
    clock.wrap(Session, "get", session_get_label, weak=True)
    clock.wrap_sql(Session)
    clock.wrap_ping(flask_app)


def run_docs(docs: list[tuple[uuid.UUID, list[Any]]], clock: PhaseClock | None) -> dict[str, Any]:
    """Every stage of `docs`, one after another, applied eagerly; ms per stage."""
    wall = cpu = 0.0
    stages = 0
    for _shell_file_id, chain in docs:
        for link in chain:
            fast = link.job_name.startswith("fast")
            task = noop_tasks.fast_bench_noop if fast else noop_tasks.ai_bench_noop
            kwargs = {"job_id": str(link.id)}
            w0, c0 = time.perf_counter(), time.thread_time()
            if clock is not None:
                clock.enter(ROOT)
            try:
                result = task.apply(kwargs=kwargs, task_id=str(link.id))
            finally:
                if clock is not None:
                    clock.leave()
            wall += time.perf_counter() - w0
            cpu += time.thread_time() - c0
            stages += 1
            if not result.successful():
                raise RuntimeError(f"stage failed in-process: {result.traceback}")
    return {"stages": stages, "wall_ms": wall * 1000 / stages, "cpu_ms": cpu * 1000 / stages}


def run_raw(count: int) -> dict[str, Any]:
    w0, c0 = time.perf_counter(), time.thread_time()
    for _ in range(count):
        noop_tasks.fast_bench_raw.apply(kwargs={"doc_id": "x"}, task_id=str(uuid.uuid4()))
    wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
    return {"tasks": count, "wall_ms": wall * 1000 / count, "cpu_ms": cpu * 1000 / count}


def breakdown(ctx: Context, *, documents: int = 50) -> dict[str, Any]:
    """`documents` x 6 no-op stages in-process: per-phase ms per stage, plus totals."""
    run_docs(create_docs(ctx, 5), None)  # warm-up
    clock = PhaseClock(frozenset({ROOT, RUN_STAGE, BEGIN, CLAIM, COMPLETE}))
    instrument(ctx.flask_app, clock)
    try:
        instrumented = run_docs(create_docs(ctx, documents), clock)
    finally:
        clock.restore()
    plain = run_docs(create_docs(ctx, documents), None)
    return {
        "stages": instrumented["stages"],
        "engine_instrumented": instrumented,
        "engine_uninstrumented": plain,
        "raw_task_eager": run_raw(documents * 6),
        "phases": clock.per(instrumented["stages"], "stage"),
    }


def print_breakdown(result: dict[str, Any]) -> None:
    print_phases(
        f"Where one engine stage's time goes (in-process, eager, {result['stages']} no-op "
        "stages one at a time)",
        "Exclusive time per phase; CPU is this thread's CPU time. Celery's own message "
        "handling in a worker (paid by raw tasks too) is not in here.",
        result["phases"],
        "stage",
        {
            "engine stage, not instrumented": result["engine_uninstrumented"],
            "raw task (eager apply)": result["raw_task_eager"],
        },
    )


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    parser = harness.parser(__doc__)
    parser.add_argument("--documents", type=int, default=50, help="documents of 6 stages each")
    args = parser.parse_args(argv)
    with harness.bench_env("engine_overhead", keep=args.keep_db) as env:
        ctx = noop_tasks.engine_context(env, harness.create_identity(env, "phases"))
        with ctx.flask_app.app_context():
            result = breakdown(ctx, documents=args.documents)
        ctx.db.engine.dispose()
    print_breakdown(result)
    return harness.write_results("engine_phases", {"breakdown": result})


if __name__ == "__main__":
    harness.main(run)
