"""Engine overhead: six no-op stages through our engine vs the same six tasks as a raw
Celery chain, on the same workers, in the same run.

    .venv/bin/python -m bench.engine_overhead [--docs 200] [--sequential 40]

Workers, as in the Procfile: one `celery --app tasks.worker worker --queues fast`
and one `--queues ai`, prefork, concurrency 2 each, plus `--include bench.noop_tasks`.

- Engine: a shell file with six job rows (`app.jobs.enqueue_pipeline`, 3 fast + 3 ai
  stages `fast.bench_noop`/`ai.bench_noop`, which go through `StageTask`/`run_stage`),
  published with `Dispatcher.publish_after_commit` as an upload does. Done when
  `shell_files.status = 'completed'`; its time is `processing_completed_at`.
- Raw: `chain()` of `fast.bench_raw` x3 + `ai.bench_raw` x3 (plain `celery.Task`,
  immutable signatures with task ids and priority, like `send_chain`); the last
  one pushes its finish time to a Redis list.

Throughput: `--docs` documents' chains published at once; documents/s from the
first publish to the last completion; median of `--reps`. Latency: `--sequential`
documents one at a time (engine and raw alternating), p50/p95. The engine's
latency is from `shell_files.created_at` (its insert transaction) to
`processing_completed_at`, so it includes writing the rows and publishing; the raw
chain's from just before `apply_async` to the last task's timestamp.

Floors (informational, never asserted): engine >= 0.5 x raw throughput, <= 30 ms
added p50 latency.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.common import fmt, log, markdown_table, median, percentile

NAME = "engine_overhead"
DB_NAME = "sfp_bench_engine"
REDIS_DB = 10
LANES = ("fast", "fast", "fast", "ai", "ai", "ai")
FLOOR_THROUGHPUT_RATIO = 0.5
FLOOR_ADDED_P50_MS = 30.0
RAW_DONE = "bench:raw:done"
NOISE_LIMIT = 0.15  # a throughput repetition with more of the machine used elsewhere is redone


def worker_argv(lane: str, concurrency: int) -> list[str]:
    """The Procfile's `fast`/`ai` line, with the benchmark's tasks included."""
    soft, hard = (110, 120) if lane == "fast" else (570, 600)
    return [
        str(common.VENV_BIN / "celery"),
        "--app",
        "tasks.worker",
        "worker",
        "--queues",
        lane,
        "--hostname",
        f"{lane}-bench@%h",
        "--concurrency",
        str(concurrency),
        "--pool",
        "prefork",
        "--soft-time-limit",
        str(soft),
        "--time-limit",
        str(hard),
        "--without-mingle",
        "--loglevel",
        "INFO",
        "--include",
        "bench.noop_tasks",
    ]


@dataclass
class Context:
    flask_app: Any
    celery: Any
    dispatcher: Any
    db: Any
    redis: Any
    account_id: uuid.UUID
    profile_id: uuid.UUID


# --------------------------------------------------------------------------- engine side


def bench_stages() -> tuple[Any, ...]:
    from app.pipeline import StageSpec

    return tuple(StageSpec(f"bench{i}", lane, f"{lane}.bench_noop") for i, lane in enumerate(LANES))


def create_engine_docs(ctx: Context, count: int) -> list[tuple[uuid.UUID, list[Any]]]:
    """Commit `count` shell files, each with its six job rows; return (id, chain links).

    `enqueue_pipeline` returns the chain's links (objects with id, job_name,
    shell_file_id, priority) or, in older code, their ids; both are handled.
    """
    from sqlalchemy import select

    from app import jobs
    from app.models import Job, ShellFile

    stages = bench_stages()
    made: list[tuple[uuid.UUID, list[Any]]] = []
    with ctx.db.session() as session:
        for _ in range(count):
            shell_file = ShellFile(
                id=uuid.uuid4(),
                patient_id=ctx.profile_id,
                uploaded_by=ctx.account_id,
                original_filename="bench.txt",
                mime_type="text/plain",
                file_size_bytes=1,
                sha256=uuid.uuid4().hex + uuid.uuid4().hex,
                storage_key="db:none",
                status="uploaded",
                processing_priority=5,
                run_number=1,
            )
            session.add(shell_file)
            session.flush()
            made.append(
                (shell_file.id, list(jobs.enqueue_pipeline(session, shell_file, stages=stages)))
            )
        ids = [link for _, links in made for link in links if isinstance(link, uuid.UUID)]
        if ids:
            rows = {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(ids)))}
            made = [
                (sf_id, [rows[link] if isinstance(link, uuid.UUID) else link for link in links])
                for sf_id, links in made
            ]
    return made


def engine_completion(ctx: Context, ids: list[uuid.UUID]) -> list[tuple[uuid.UUID, str, Any, Any]]:
    from sqlalchemy import select

    from app.models import ShellFile

    with ctx.db.session() as session:
        return [
            tuple(row)
            for row in session.execute(
                select(
                    ShellFile.id,
                    ShellFile.status,
                    ShellFile.created_at,
                    ShellFile.processing_completed_at,
                ).where(ShellFile.id.in_(ids))
            )
        ]


def wait_engine(ctx: Context, ids: list[uuid.UUID], *, timeout: float, poll: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        rows = engine_completion(ctx, ids)
        if all(status in ("completed", "failed", "quarantined") for _, status, _, _ in rows):
            bad = [r for r in rows if r[1] != "completed"]
            if bad:
                raise RuntimeError(f"{len(bad)} engine documents did not complete: {bad[:3]}")
            return rows
        if time.monotonic() > deadline:
            done = sum(1 for r in rows if r[1] == "completed")
            raise RuntimeError(f"engine: only {done}/{len(ids)} documents completed in {timeout}s")
        time.sleep(poll)


# --------------------------------------------------------------------------- raw side


def raw_chain(ctx: Context, doc_id: str, mark: str) -> Any:
    from celery import chain

    signatures = []
    for index, lane in enumerate(LANES):
        kwargs: dict[str, Any] = {"doc_id": doc_id}
        if index == len(LANES) - 1:
            kwargs["mark"] = mark
        signatures.append(
            ctx.celery.signature(f"{lane}.bench_raw", kwargs=kwargs, immutable=True).set(
                task_id=str(uuid.uuid4()), priority=4
            )
        )
    return chain(*signatures)


def raw_done_times(ctx: Context, key: str) -> dict[str, float]:
    return {
        doc: float(at)
        for doc, at in (item.decode().split() for item in ctx.redis.lrange(key, 0, -1))
    }


# --------------------------------------------------------------------------- measurements


def throughput_engine(ctx: Context, count: int, meter: common.CpuMeter) -> dict[str, Any]:
    docs = create_engine_docs(ctx, count)
    meter.start()
    started = time.time()
    for _, chain_jobs in docs:
        if not ctx.dispatcher.publish_after_commit(chain_jobs):
            raise RuntimeError("publishing to the broker failed")
    published = time.time()
    rows = wait_engine(ctx, [sf_id for sf_id, _ in docs], timeout=180, poll=0.05)
    cpu = meter.stop()
    stopped = time.time()
    finished = max(r[3].timestamp() for r in rows)
    return _throughput_figures(count, started, published, finished, cpu, stopped)


def throughput_raw(ctx: Context, count: int, meter: common.CpuMeter) -> dict[str, Any]:
    key = f"{RAW_DONE}:{uuid.uuid4().hex}"
    doc_ids = [uuid.uuid4().hex for _ in range(count)]
    chains = [raw_chain(ctx, doc_id, key) for doc_id in doc_ids]
    meter.start()
    started = time.time()
    for signature in chains:
        signature.apply_async(retry=False)
    published = time.time()
    deadline = time.monotonic() + 180
    while ctx.redis.llen(key) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"raw: only {ctx.redis.llen(key)}/{count} chains finished")
        time.sleep(0.05)
    cpu = meter.stop()
    stopped = time.time()
    finished = max(raw_done_times(ctx, key).values())
    ctx.redis.delete(key)
    return _throughput_figures(count, started, published, finished, cpu, stopped)


def _throughput_figures(
    count: int,
    started: float,
    published: float,
    finished: float,
    cpu: dict[str, float],
    stopped: float,
) -> dict[str, Any]:
    elapsed = finished - started
    metered = max(stopped - started, 1e-3) * (os.cpu_count() or 1)
    return {
        # Share of the machine used by processes outside the benchmark meanwhile.
        "noise": round(cpu[common.CpuMeter.OTHER] / metered, 3),
        "documents": count,
        "seconds": round(elapsed, 3),
        "docs_per_s": count / elapsed,
        "publish_seconds": round(published - started, 3),
        "cpu_ms_per_doc": {k: round(v * 1000 / count, 3) for k, v in cpu.items()},
    }


def latency_engine_one(ctx: Context) -> dict[str, float]:
    ((sf_id, chain_jobs),) = create_engine_docs(ctx, 1)
    published_at = time.time()
    if not ctx.dispatcher.publish_after_commit(chain_jobs):
        raise RuntimeError("publishing to the broker failed")
    ((_, _, created_at, completed_at),) = wait_engine(ctx, [sf_id], timeout=60, poll=0.005)
    return {
        "created_to_completed_ms": (completed_at - created_at).total_seconds() * 1000,
        "publish_to_completed_ms": (completed_at.timestamp() - published_at) * 1000,
    }


def latency_raw_one(ctx: Context) -> float:
    key = f"{RAW_DONE}:{uuid.uuid4().hex}"
    doc_id = uuid.uuid4().hex
    signature = raw_chain(ctx, doc_id, key)
    started = time.time()
    signature.apply_async(retry=False)
    popped = ctx.redis.blpop([key], timeout=60)
    if popped is None:
        raise RuntimeError("raw chain did not finish in 60 s")
    _, finished = popped[1].decode().split()
    return (float(finished) - started) * 1000


def measure(
    ctx: Context, args: Any, meter: common.CpuMeter
) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, float]], list[float]]:
    """Warm up, then the throughput repetitions and the one-at-a-time latencies."""
    log("warm-up")
    throughput_engine(ctx, 20, meter)
    throughput_raw(ctx, 20, meter)
    for _ in range(3):
        latency_engine_one(ctx)
        latency_raw_one(ctx)

    runs: dict[str, list[dict[str, Any]]] = {"engine": [], "raw": []}
    retries_left = 3
    while len(runs["engine"]) < args.reps:
        pair = {}
        for label, run in (("engine", throughput_engine), ("raw", throughput_raw)):
            fig = pair[label] = run(ctx, args.docs, meter)
            log(
                f"throughput rep {len(runs['engine']) + 1} {label}: "
                f"{fig['docs_per_s']:.1f} docs/s ({args.docs} docs in "
                f"{fig['seconds']:.2f} s; other processes {fig['noise']:.0%})"
            )
        if max(f["noise"] for f in pair.values()) > NOISE_LIMIT and retries_left:
            retries_left -= 1
            log("repetition discarded: other processes were busy; measuring again")
            continue
        for label, fig in pair.items():
            runs[label].append(fig)
    engine_latency: list[dict[str, float]] = []
    raw_latency: list[float] = []
    for _ in range(args.sequential):
        engine_latency.append(latency_engine_one(ctx))
        raw_latency.append(latency_raw_one(ctx))
    log(
        f"sequential: engine p50 "
        f"{median([x['created_to_completed_ms'] for x in engine_latency]):.1f} ms, "
        f"raw p50 {median(raw_latency):.1f} ms"
    )
    return runs, engine_latency, raw_latency


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=200, help="documents per throughput run")
    parser.add_argument("--reps", type=int, default=2, help="throughput runs per side")
    parser.add_argument(
        "--sequential",
        type=int,
        default=40,
        help="documents per side sent one at a time for latency",
    )
    parser.add_argument("--concurrency", type=int, default=2, help="per worker (Procfile: 2)")
    parser.add_argument(
        "--no-phases",
        action="store_true",
        help="skip the in-process per-phase breakdown (bench/engine_phases.py)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to this long for the machine to be under 10%% busy",
    )
    parser.add_argument("--keep-db", action="store_true")
    return parser.parse_args(argv)


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    """Measure with the options `argv` (as on the command line), print the tables, and
    return the figures written to bench/results/engine_overhead.json. Raises RuntimeError
    if a worker does not start or documents do not complete in time."""
    args = parse_args(argv)
    common.wait_for_quiet(args.wait_quiet)
    background = common.background_load()

    with (
        common.bench_env(NAME, DB_NAME, REDIS_DB, keep=args.keep_db) as env,
        common.Processes(env.workdir) as procs,
    ):
        identity = common.create_identity(env, "engine")
        workers = {}
        for lane in ("fast", "ai"):
            workers[lane] = procs.start(
                f"worker-{lane}", worker_argv(lane, args.concurrency), env.env()
            )
        for lane, child in workers.items():
            common.wait_until(
                lambda c=child: " ready." in c.log_text(),
                timeout=90,
                what=f"the {lane} worker to be ready",
                child=child,
            )
        log("workers ready")
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
        meter = common.CpuMeter(
            {
                "fast worker": lambda: common.tree_cpu(workers["fast"].pid),
                "ai worker": lambda: common.tree_cpu(workers["ai"].pid),
                "postgres": lambda: common.named_cpu(["postgres"]),
                "redis": lambda: common.named_cpu(["redis-server"]),
                "publisher (this process)": lambda: sum(os.times()[:2]),
            }
        )
        with flask_app.app_context():
            runs, engine_latency, raw_latency = measure(ctx, args, meter)
        for child in workers.values():
            procs.stop(child)
        phases: dict[str, Any] = {}
        if not args.no_phases:
            from bench.engine_phases import breakdown

            log("per-phase breakdown: no-op stages in this process")
            with flask_app.app_context():
                phases = breakdown(ctx)
        flask_app.extensions["db"].engine.dispose()

    return report(args, runs, engine_latency, raw_latency, background, phases)


def main() -> None:
    common.install_signal_handlers()
    run(sys.argv[1:])


def report(
    args: Any,
    runs: dict[str, list[dict[str, Any]]],
    engine_latency: list[dict[str, float]],
    raw_latency: list[float],
    background: dict[str, Any],
    phases: dict[str, Any],
) -> dict[str, Any]:
    tput = {label: median([r["docs_per_s"] for r in rs]) for label, rs in runs.items()}
    cpu = {
        label: {k: median([r["cpu_ms_per_doc"][k] for r in rs]) for k in rs[0]["cpu_ms_per_doc"]}
        for label, rs in runs.items()
    }
    eng_created = [x["created_to_completed_ms"] for x in engine_latency]
    eng_published = [x["publish_to_completed_ms"] for x in engine_latency]
    lat = {
        "engine": {
            "p50": median(eng_created),
            "p95": percentile(eng_created, 95),
            "mean": sum(eng_created) / len(eng_created),
        },
        "engine_from_publish": {
            "p50": median(eng_published),
            "p95": percentile(eng_published, 95),
            "mean": sum(eng_published) / len(eng_published),
        },
        "raw": {
            "p50": median(raw_latency),
            "p95": percentile(raw_latency, 95),
            "mean": sum(raw_latency) / len(raw_latency),
        },
    }
    throughput_ratio = common.ratio(tput["engine"], tput["raw"])
    added_p50 = lat["engine"]["p50"] - lat["raw"]["p50"]
    added_p95 = lat["engine"]["p95"] - lat["raw"]["p95"]

    print(
        f"\n## Engine overhead: 6 no-op stages (3 fast + 3 ai), workers 2 x prefork "
        f"concurrency {args.concurrency}\n"
    )
    print(
        f"Throughput: {args.docs} documents published at once, median of {args.reps}. "
        f"Latency: {args.sequential} documents one at a time per side.\n"
    )
    print(
        markdown_table(
            ["path", "docs/s", "p50 ms", "p95 ms", "mean ms"],
            [
                [
                    "engine (StageTask + job rows)",
                    fmt(tput["engine"]),
                    fmt(lat["engine"]["p50"]),
                    fmt(lat["engine"]["p95"]),
                    fmt(lat["engine"]["mean"]),
                ],
                [
                    "engine, from publish (excl. row insert)",
                    "",
                    fmt(lat["engine_from_publish"]["p50"]),
                    fmt(lat["engine_from_publish"]["p95"]),
                    fmt(lat["engine_from_publish"]["mean"]),
                ],
                [
                    "raw Celery chain",
                    fmt(tput["raw"]),
                    fmt(lat["raw"]["p50"]),
                    fmt(lat["raw"]["p95"]),
                    fmt(lat["raw"]["mean"]),
                ],
                [
                    "**engine/raw** (throughput) / **added** (latency)",
                    fmt(throughput_ratio, 2),
                    f"+{fmt(added_p50)}",
                    f"+{fmt(added_p95)}",
                    f"+{fmt(lat['engine']['mean'] - lat['raw']['mean'])}",
                ],
            ],
        )
    )

    other = common.CpuMeter.OTHER
    parties = [p for p in cpu["engine"] if p != other]
    print("\nCPU milliseconds per document during the throughput runs (median):\n")
    print(
        markdown_table(
            ["path", *parties, "total", other],
            [
                [
                    label,
                    *[fmt(cpu[label][p], 2) for p in parties],
                    fmt(sum(cpu[label][p] for p in parties), 2),
                    fmt(cpu[label][other], 2),
                ]
                for label in ("engine", "raw")
            ],
        )
    )

    print("\nThroughput runs (docs/s):\n")
    print(
        markdown_table(
            ["rep", "engine", "raw"],
            [
                [str(i + 1), fmt(e["docs_per_s"]), fmt(r["docs_per_s"])]
                for i, (e, r) in enumerate(zip(runs["engine"], runs["raw"], strict=True))
            ],
        )
    )

    floors = [
        (
            "engine >= 0.5 x raw throughput",
            throughput_ratio >= FLOOR_THROUGHPUT_RATIO,
            fmt(throughput_ratio, 2),
        ),
        ("added p50 latency <= 30 ms", added_p50 <= FLOOR_ADDED_P50_MS, f"{fmt(added_p50)} ms"),
    ]
    print("\nFloors (informational):\n")
    print(
        markdown_table(
            ["floor", "measured", "met"], [[f, v, "yes" if ok else "NO"] for f, ok, v in floors]
        )
    )
    if phases:
        from bench.engine_phases import print_breakdown

        print_breakdown(phases)
    print(f"\nMachine busy before the benchmark started: {background['busy_percent']:.0f}%.")
    payload: dict[str, Any] = {
        "background_load": background,
        "parameters": {
            "documents": args.docs,
            "repetitions": args.reps,
            "sequential": args.sequential,
            "concurrency": args.concurrency,
            "stages": list(LANES),
        },
        "throughput_docs_per_s": tput,
        "throughput_ratio": throughput_ratio,
        "latency_ms": lat,
        "added_latency_ms": {"p50": added_p50, "p95": added_p95},
        "cpu_ms_per_doc": cpu,
        "runs": runs,
        "latency_samples_ms": {
            "engine": eng_created,
            "engine_from_publish": eng_published,
            "raw": raw_latency,
        },
        "floors": {f: {"met": ok, "measured": v} for f, ok, v in floors},
        "phases": phases,
    }
    path = common.write_results(NAME, payload)
    print(f"\nresults: {path.relative_to(common.PROJECT_ROOT)}")
    return payload


if __name__ == "__main__":
    main()
