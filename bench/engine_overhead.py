"""Engine overhead: six no-op stages through our engine vs the same six tasks as a raw
Celery chain, on the same workers (the Procfile's `fast` and `ai`, with
`--include bench.noop_tasks`), in the same run. See bench/README.md.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from typing import Any

from bench import harness
from bench.engine_phases import breakdown, print_breakdown
from bench.harness import CpuMeter, fmt, log, median
from bench.noop_tasks import LANES, Context, create_docs, engine_context

RAW_DONE = "bench:raw:done"
NOOP = "bench.noop_tasks"


def wait_engine(ctx: Context, ids: list[uuid.UUID], *, timeout: float, poll: float) -> list[Any]:
    """(id, status, created_at, completed_at) of each document once all completed."""
    from sqlalchemy import select

    from app.models import ShellFile

    columns = (
        ShellFile.id,
        ShellFile.status,
        ShellFile.created_at,
        ShellFile.processing_completed_at,
    )
    deadline = time.monotonic() + timeout
    while True:
        with ctx.db.session() as session:
            rows = [
                tuple(r) for r in session.execute(select(*columns).where(ShellFile.id.in_(ids)))
            ]
        if all(status in ("completed", "failed", "quarantined") for _, status, _, _ in rows):
            bad = [r for r in rows if r[1] != "completed"]
            if bad:
                raise RuntimeError(f"{len(bad)} engine documents did not complete: {bad[:3]}")
            return rows
        if time.monotonic() > deadline:
            done = sum(1 for r in rows if r[1] == "completed")
            raise RuntimeError(f"engine: only {done}/{len(ids)} documents completed in {timeout}s")
        time.sleep(poll)


def raw_chain(ctx: Context, doc_id: str, mark: str) -> Any:
    """The six raw tasks as a chain (immutable signatures with task ids and priority, like
    `send_chain`); the last pushes "<doc_id> <time>" to the Redis list `mark`."""
    from celery import chain

    signatures = []
    for index, lane in enumerate(LANES):
        kwargs = {"doc_id": doc_id, "mark": mark if index == len(LANES) - 1 else None}
        signature = ctx.celery.signature(f"{lane}.bench_raw", kwargs=kwargs, immutable=True)
        signatures.append(signature.set(task_id=str(uuid.uuid4()), priority=4))
    return chain(*signatures)


def publish(ctx: Context, chain_jobs: list[Any]) -> None:
    if not ctx.dispatcher.publish_after_commit(chain_jobs):
        raise RuntimeError("publishing to the broker failed")


def throughput(ctx: Context, side: str, count: int, meter: CpuMeter) -> dict[str, Any]:
    """`count` documents published at once through the engine or as raw chains."""
    key = f"{RAW_DONE}:{uuid.uuid4().hex}"
    docs = create_docs(ctx, count) if side == "engine" else []
    chains = [raw_chain(ctx, uuid.uuid4().hex, key) for _ in range(count * (side == "raw"))]
    meter.start()
    started = time.time()
    for _, chain_jobs in docs:
        publish(ctx, chain_jobs)
    for signature in chains:
        signature.apply_async(retry=False)
    published = time.time()
    if side == "engine":
        rows = wait_engine(ctx, [sf_id for sf_id, _ in docs], timeout=180, poll=0.05)
        finished = max(r[3].timestamp() for r in rows)
    else:
        harness.wait_until(lambda: ctx.redis.llen(key) >= count, timeout=180, what="raw chains",
                           interval=0.05)  # fmt: skip
        finished = max(float(item.split()[1]) for item in ctx.redis.lrange(key, 0, -1))
        ctx.redis.delete(key)
    cpu = meter.stop()
    elapsed = finished - started
    return {"noise": meter.noise(cpu), "documents": count, "seconds": round(elapsed, 3),
            "docs_per_s": count / elapsed, "publish_seconds": round(published - started, 3),
            "cpu_ms_per_doc": {k: round(v * 1000 / count, 3) for k, v in cpu.items()}}  # fmt: skip


def latency_engine(ctx: Context) -> dict[str, float]:
    ((sf_id, chain_jobs),) = create_docs(ctx, 1)
    published_at = time.time()
    publish(ctx, chain_jobs)
    ((_, _, created_at, completed_at),) = wait_engine(ctx, [sf_id], timeout=60, poll=0.005)
    return {
        "created_to_completed_ms": (completed_at - created_at).total_seconds() * 1000,
        "publish_to_completed_ms": (completed_at.timestamp() - published_at) * 1000,
    }


def latency_raw(ctx: Context) -> float:
    key = f"{RAW_DONE}:{uuid.uuid4().hex}"
    signature = raw_chain(ctx, uuid.uuid4().hex, key)
    started = time.time()
    signature.apply_async(retry=False)
    popped = ctx.redis.blpop([key], timeout=60)
    if popped is None:
        raise RuntimeError("raw chain did not finish in 60 s")
    return (float(popped[1].split()[1]) - started) * 1000


def measure(ctx: Context, args: Any, meter: CpuMeter) -> dict[str, Any]:
    """Warm up, then the throughput repetitions (a pair disturbed by other processes is
    redone, up to 3 times) and the one-at-a-time latencies."""
    log("warm-up")
    for side in ("engine", "raw"):
        throughput(ctx, side, 20, meter)
    for _ in range(3):
        latency_engine(ctx)
        latency_raw(ctx)

    def pair(rep: int) -> dict[str, dict[str, Any]]:
        found = {side: throughput(ctx, side, args.docs, meter) for side in ("engine", "raw")}
        for side, fig in found.items():
            log(f"throughput rep {rep} {side}: {fig['docs_per_s']:.1f} docs/s ({args.docs} docs "
                f"in {fig['seconds']:.2f} s; other processes {fig['noise']:.0%})")  # fmt: skip
        return found

    runs = harness.quiet_rounds(pair, args.reps, retries=3)
    engine, raw = [], []
    for _ in range(args.sequential):
        engine.append(latency_engine(ctx))
        raw.append(latency_raw(ctx))
    return {"runs": runs, "engine": engine, "raw": raw}


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    """Measure with the options `argv` (as on the command line), print the tables, and return
    the figures written to bench/results/engine_overhead.json. Raises RuntimeError if a
    worker does not start or documents do not complete in time."""
    parser = harness.parser(__doc__)
    parser.add_argument("--docs", type=int, default=200, help="documents per throughput run")
    parser.add_argument("--reps", type=int, default=2, help="throughput runs per side")
    parser.add_argument(
        "--sequential", type=int, default=40, help="documents one at a time, each side"
    )
    parser.add_argument("--concurrency", type=int, default=2, help="per worker (Procfile: 2)")
    parser.add_argument("--no-phases", action="store_true", help="skip bench/engine_phases.py")
    args = parser.parse_args(argv)
    background = harness.begin(args)
    with (
        harness.bench_env("engine_overhead", keep=args.keep_db) as env,
        harness.Processes(env.workdir) as procs,
    ):
        identity = harness.create_identity(env, "engine")
        workers = {
            lane: harness.start_worker(procs, env.env(), lane, args.concurrency, include=NOOP)
            for lane in ("fast", "ai")
        }
        log("workers ready")
        ctx = engine_context(env, identity)
        groups = harness.cpu_groups({f"{lane} worker": w.pid for lane, w in workers.items()})
        meter = CpuMeter(groups | {"publisher (this process)": lambda: sum(os.times()[:2])})
        with ctx.flask_app.app_context():
            measured = measure(ctx, args, meter)
        for child in workers.values():
            procs.stop(child)
        phases: dict[str, Any] = {}
        if not args.no_phases:
            log("per-phase breakdown: no-op stages in this process")
            with ctx.flask_app.app_context():
                phases = breakdown(ctx)
        ctx.db.engine.dispose()
    return report(args, measured, background, phases)


def report(args: Any, measured: dict[str, Any], background: dict[str, Any],
           phases: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    runs = measured["runs"]
    tput = {side: median([r["docs_per_s"] for r in rs]) for side, rs in runs.items()}
    cpu = {side: {k: median([r["cpu_ms_per_doc"][k] for r in rs]) for k in rs[0]["cpu_ms_per_doc"]}
           for side, rs in runs.items()}  # fmt: skip
    samples = {"engine": [x["created_to_completed_ms"] for x in measured["engine"]],
               "engine_from_publish": [x["publish_to_completed_ms"] for x in measured["engine"]],
               "raw": measured["raw"]}  # fmt: skip
    lat = {side: harness.spread(values) for side, values in samples.items()}
    tput_ratio = harness.ratio(tput["engine"], tput["raw"])
    added = {k: lat["engine"][k] - lat["raw"][k] for k in ("p50", "p95", "mean")}
    harness.table(
        f"## Engine overhead: 6 no-op stages (3 fast + 3 ai), workers 2 x prefork concurrency "
        f"{args.concurrency}\n\nThroughput: {args.docs} documents published at once, median of "
        f"{args.reps}. Latency: {args.sequential} documents one at a time per side.",
        ["path", "docs/s", "p50 ms", "p95 ms", "mean ms"],
        [["engine (StageTask + job rows)", fmt(tput["engine"]), *map(fmt, lat["engine"].values())],
         ["engine, from publish (excl. row insert)", "",
          *map(fmt, lat["engine_from_publish"].values())],
         ["raw Celery chain", fmt(tput["raw"]), *map(fmt, lat["raw"].values())],
         ["**engine/raw** (throughput) / **added** (latency)", fmt(tput_ratio, 2),
          *(f"+{fmt(v)}" for v in added.values())]],
    )  # fmt: skip
    parties = [p for p in cpu["engine"] if p != CpuMeter.OTHER]
    harness.table(
        "CPU milliseconds per document during the throughput runs (median):",
        ["path", *parties, "total", CpuMeter.OTHER],
        [[side, *(fmt(cpu[side][p], 2) for p in parties),
          fmt(sum(cpu[side][p] for p in parties), 2), fmt(cpu[side][CpuMeter.OTHER], 2)]
         for side in ("engine", "raw")],
    )  # fmt: skip
    pairs = enumerate(zip(runs["engine"], runs["raw"], strict=True))
    rows = [[i + 1, fmt(e["docs_per_s"]), fmt(r["docs_per_s"])] for i, (e, r) in pairs]
    harness.table("Throughput runs (docs/s):", ["rep", "engine", "raw"], rows)
    base = "raw Celery chain of the same 6 tasks, same workers"
    headline = harness.headline([
        harness.row("Engine throughput, 6 no-op stages", tput["engine"], "docs/s", base,
                    tput["raw"], floor=f">= {harness.FLOOR_ENGINE_RATIO}x raw",
                    met=tput_ratio >= harness.FLOOR_ENGINE_RATIO),
        harness.row("Engine latency p50, 6 no-op stages", lat["engine"]["p50"], "ms", base,
                    lat["raw"]["p50"], floor=f"<= +{harness.FLOOR_ENGINE_ADDED_P50_MS:.0f} ms "
                    "over raw", met=added["p50"] <= harness.FLOOR_ENGINE_ADDED_P50_MS),
    ])  # fmt: skip
    if phases:
        print_breakdown(phases)
    harness.busy_before(background)
    return harness.write_results("engine_overhead", {
        "background_load": background,
        "parameters": {"documents": args.docs, "repetitions": args.reps,
                       "sequential": args.sequential, "concurrency": args.concurrency,
                       "stages": list(LANES)},
        "throughput_docs_per_s": tput, "throughput_ratio": tput_ratio, "latency_ms": lat,
        "added_latency_ms": {"p50": added["p50"], "p95": added["p95"]}, "cpu_ms_per_doc": cpu,
        "runs": runs, "latency_samples_ms": samples, "headline": headline, "phases": phases,
    })  # fmt: skip


if __name__ == "__main__":
    harness.main(run)
