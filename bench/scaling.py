"""Scaling: documents per second through both lanes with 1 and then 2 worker processes per
lane, on the same batch of documents, in the same run.

    .venv/bin/python -m bench.scaling [--docs 40] [--pages 4] [--processes 1,2] [--scanned]

- Documents: `--docs` clinical PDFs of `--pages` pages each, made once by
  bench/e2e_latency.py's `write_document` (born-digital; `--scanned`: 300 dpi
  images) and uploaded unchanged for every setting: the same bytes, the same work.
- For each setting, in order: a fresh database `sfp_bench_scaling` (migrated) and
  Redis db 14, gunicorn (1 worker x 4 threads), and the Procfile's `fast` and `ai`
  workers with `--concurrency N` each (local AI provider). One warm-up document
  outside the batch, then the whole batch is uploaded one request after another
  and the clock runs from just before the first upload to the last
  `processing_completed_at`.
- Figures: documents/s and pages/s per setting; CPU seconds per document of each
  worker, gunicorn, PostgreSQL and Redis (so a setting that gets faster by burning
  more CPU per document shows it), and the share of the machine other processes
  used meanwhile. The first setting is the baseline; the ratio is
  docs/s(N) / docs/s(first). On 2 cores, 2 processes per lane means 4 processes
  for 2 cores: the ratio shows what the extra processes buy once the cores are
  busy, not what more cores would.

Nothing is asserted: figures are printed and written to bench/results/scaling.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.common import fmt, log, markdown_table
from bench.e2e_latency import start_stack, upload, wait_completed, write_document

NAME = "scaling"
DB_NAME = "sfp_bench_scaling"
REDIS_DB = 14


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=40, help="documents in the batch")
    parser.add_argument("--pages", type=int, default=4, help="pages per document")
    parser.add_argument(
        "--processes", default="1,2", help="worker processes per lane, one setting after another"
    )
    parser.add_argument("--scanned", action="store_true", help="300 dpi image-only PDFs")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per batch")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to this long for the machine to be under 10%% busy",
    )
    parser.add_argument("--keep-db", action="store_true")
    return parser.parse_args(argv)


def measure_setting(
    args: argparse.Namespace, processes: int, batch: list[Path], warm: Path
) -> dict[str, Any]:
    """The batch through a fresh service with `processes` worker processes per lane.
    Raises RuntimeError if a document fails or the batch exceeds --timeout."""
    with (
        common.bench_env(NAME, DB_NAME, REDIS_DB, keep=args.keep_db) as env,
        common.Processes(env.workdir) as procs,
    ):
        stack = start_stack(env, procs, processes)
        meter = common.CpuMeter(
            {
                "fast worker": lambda: common.tree_cpu(stack.workers["fast"].pid),
                "ai worker": lambda: common.tree_cpu(stack.workers["ai"].pid),
                "gunicorn": lambda: common.tree_cpu(stack.web.pid),
                "postgres": lambda: common.named_cpu(["postgres"]),
                "redis": lambda: common.named_cpu(["redis-server"]),
            }
        )
        conn = env.psql()
        try:
            wait_completed(conn, [upload(stack, warm)], timeout=args.timeout, stack=stack)
            meter.start()
            started = time.time()
            ids = [upload(stack, path) for path in batch]
            uploaded = time.time()
            done = wait_completed(conn, ids, timeout=args.timeout, stack=stack)
            observed = time.time()
            cpu = meter.stop()
        finally:
            conn.close()
    elapsed = max(done.values()) - started
    machine = max(observed - started, 1e-3) * (os.cpu_count() or 1)
    return {
        "processes_per_lane": processes,
        "elapsed_s": elapsed,
        "upload_s": uploaded - started,
        "docs_per_s": len(batch) / elapsed,
        "pages_per_s": len(batch) * args.pages / elapsed,
        "cpu_s_per_doc": {label: seconds / len(batch) for label, seconds in cpu.items()},
        "noise": round(cpu[common.CpuMeter.OTHER] / machine, 3),
    }


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    """Measure with the options `argv` (as on the command line), print the tables, and
    return the figures written to bench/results/scaling.json. Raises RuntimeError if a
    document fails or a batch does not complete within --timeout."""
    args = parse_args(argv)
    settings = [int(p) for p in args.processes.split(",") if p.strip()]
    common.wait_for_quiet(args.wait_quiet)
    background = common.background_load()
    scratch = Path(tempfile.mkdtemp(prefix="sfp-scaling-docs-"))
    try:
        log(f"documents: {args.docs} x {args.pages} pages")
        batch = [
            write_document(
                scratch / f"doc-{n}.pdf", args.pages, uuid.uuid4().hex, scanned=args.scanned
            )
            for n in range(args.docs)
        ]
        warm = write_document(scratch / "warm.pdf", 1, uuid.uuid4().hex, scanned=args.scanned)
        results = []
        for processes in settings:
            log(f"{processes} worker process(es) per lane: {args.docs} documents")
            results.append(measure_setting(args, processes, batch, warm))
            log(f"  {results[-1]['docs_per_s']:.2f} documents/s")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return report(args, results, background)


def report(
    args: argparse.Namespace, results: list[dict[str, Any]], background: dict[str, Any]
) -> dict[str, Any]:
    first = results[0]
    for result in results:
        result["cpu_s_per_doc_total"] = sum(
            v for k, v in result["cpu_s_per_doc"].items() if k != common.CpuMeter.OTHER
        )
    for result in results:
        result["ratio_docs_per_s"] = common.ratio(result["docs_per_s"], first["docs_per_s"])
        result["ratio_cpu_per_doc"] = common.ratio(
            result["cpu_s_per_doc_total"], first["cpu_s_per_doc_total"]
        )
    kind = "scanned 300 dpi" if args.scanned else "born-digital"
    print(
        f"\n## Scaling: {args.docs} {kind} documents of {args.pages} pages, uploaded at once, "
        "through both lanes (local AI)\n"
    )
    print(
        markdown_table(
            [
                "processes per lane",
                "seconds",
                "docs/s",
                "pages/s",
                f"ratio to {first['processes_per_lane']}",
                "CPU s/doc (ours)",
                "CPU ratio",
                "other processes",
            ],
            [
                [
                    str(r["processes_per_lane"]),
                    fmt(r["elapsed_s"], 1),
                    fmt(r["docs_per_s"], 2),
                    fmt(r["pages_per_s"], 1),
                    fmt(r["ratio_docs_per_s"], 2),
                    fmt(r["cpu_s_per_doc_total"], 3),
                    fmt(r["ratio_cpu_per_doc"], 2),
                    f"{r['noise']:.0%}",
                ]
                for r in results
            ],
        )
    )
    parties = list(first["cpu_s_per_doc"])
    print("\nCPU milliseconds per document:\n")
    print(
        markdown_table(
            ["processes per lane", *parties],
            [
                [str(r["processes_per_lane"])]
                + [fmt(r["cpu_s_per_doc"][p] * 1000, 1) for p in parties]
                for r in results
            ],
        )
    )
    print(f"\nMachine busy before the benchmark started: {background['busy_percent']:.0f}%.")
    payload: dict[str, Any] = {
        "background_load": background,
        "parameters": {
            "docs": args.docs,
            "pages": args.pages,
            "kind": kind,
            "processes_per_lane": [r["processes_per_lane"] for r in results],
        },
        "settings": results,
    }
    path = common.write_results(NAME, payload)
    print(f"\nresults: {path.relative_to(common.PROJECT_ROOT)}")
    return payload


def main() -> None:
    common.install_signal_handlers()
    run(sys.argv[1:])


if __name__ == "__main__":
    main()
