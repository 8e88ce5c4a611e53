"""Scaling: documents per second through both lanes with 1, then 2 worker processes per lane,
on the same batch of documents, in the same run. See bench/README.md.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import harness
from bench.documents import clinical_pdf
from bench.harness import CpuMeter, fmt, log


def measure_setting(args: Any, processes: int, batch: list[Path], warm: Path) -> dict[str, Any]:
    """The batch through a fresh service with `processes` worker processes per lane."""
    with (
        harness.bench_env("scaling", keep=args.keep_db) as env,
        harness.Processes(env.workdir) as procs,
        env.psql() as conn,
    ):
        stack = harness.start_stack(env, procs, processes)
        trees = {f"{lane} worker": w.pid for lane, w in stack.workers.items()}
        meter = CpuMeter(harness.cpu_groups(trees | {"gunicorn": stack.web.pid}))
        stack.wait_completed(conn, [stack.upload(warm)], args.timeout)
        meter.start()
        started = time.time()
        ids = [stack.upload(path) for path in batch]
        uploaded = time.time()
        done = stack.wait_completed(conn, ids, args.timeout)
        cpu = meter.stop()
    elapsed = max(done.values()) - started
    return {"processes_per_lane": processes, "elapsed_s": elapsed, "upload_s": uploaded - started,
            "docs_per_s": len(batch) / elapsed, "pages_per_s": len(batch) * args.pages / elapsed,
            "cpu_s_per_doc": {label: seconds / len(batch) for label, seconds in cpu.items()},
            "noise": meter.noise(cpu)}  # fmt: skip


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    """Measure with the options `argv` (as on the command line), print the tables, and return
    the figures written to bench/results/scaling.json. Raises RuntimeError if a document
    fails or a batch does not complete within --timeout."""
    parser = harness.parser(__doc__)
    parser.add_argument("--docs", type=int, default=40, help="documents in the batch")
    parser.add_argument("--pages", type=int, default=4, help="pages per document")
    parser.add_argument("--processes", default="1,2", help="worker processes per lane, in turn")
    parser.add_argument("--scanned", action="store_true", help="300 dpi image-only PDFs")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per batch")
    args = parser.parse_args(argv)
    background = harness.begin(args)
    scratch = Path(tempfile.mkdtemp(prefix="sfp-scaling-docs-"))
    try:
        log(f"documents: {args.docs} x {args.pages} pages")
        batch = [clinical_pdf(scratch / f"doc-{n}.pdf", args.pages, uuid.uuid4().hex,
                              scanned=args.scanned) for n in range(args.docs)]  # fmt: skip
        warm = clinical_pdf(scratch / "warm.pdf", 1, uuid.uuid4().hex, scanned=args.scanned)
        results = []
        for processes in [int(p) for p in args.processes.split(",") if p.strip()]:
            log(f"{processes} worker process(es) per lane: {args.docs} documents")
            results.append(measure_setting(args, processes, batch, warm))
            log(f"  {results[-1]['docs_per_s']:.2f} documents/s")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return report(args, results, background)


def headline_rows(results: list[dict[str, Any]], batch: str) -> list[harness.Row]:
    """Throughput and CPU per document of each setting against the first."""
    first, rows = results[0], []
    base = f"same batch, {first['processes_per_lane']} process per lane"
    for r in results[1:]:
        n = r["processes_per_lane"]
        rows += [harness.row(f"Throughput, {n} worker processes per lane ({batch})",
                             r["docs_per_s"], "docs/s", base, first["docs_per_s"]),
                 harness.row(f"CPU per document, {n} worker processes per lane",
                             r["cpu_s_per_doc_total"] * 1000, "ms/doc", base,
                             first["cpu_s_per_doc_total"] * 1000)]  # fmt: skip
    return rows


def report(args: Any, results: list[dict[str, Any]], background: dict[str, Any]) -> dict[str, Any]:
    first = results[0]
    for r in results:
        r["cpu_s_per_doc_total"] = sum(
            v for k, v in r["cpu_s_per_doc"].items() if k != CpuMeter.OTHER
        )
        r["ratio_docs_per_s"] = harness.ratio(r["docs_per_s"], first["docs_per_s"])
        r["ratio_cpu_per_doc"] = harness.ratio(r["cpu_s_per_doc_total"],
                                               first["cpu_s_per_doc_total"])  # fmt: skip
    kind = "scanned 300 dpi" if args.scanned else "born-digital"
    harness.table(
        f"## Scaling: {args.docs} {kind} documents of {args.pages} pages, uploaded at once, "
        "through both lanes (local AI)",
        ["processes per lane", "seconds", "docs/s", "pages/s",
         f"ratio to {first['processes_per_lane']}", "CPU s/doc (ours)", "CPU ratio",
         "other processes"],
        [[r["processes_per_lane"], fmt(r["elapsed_s"]), fmt(r["docs_per_s"], 2),
          fmt(r["pages_per_s"]), fmt(r["ratio_docs_per_s"], 2), fmt(r["cpu_s_per_doc_total"], 3),
          fmt(r["ratio_cpu_per_doc"], 2), f"{r['noise']:.0%}"] for r in results],
    )  # fmt: skip
    parties = list(first["cpu_s_per_doc"])
    harness.table("CPU milliseconds per document:", ["processes per lane", *parties],
                  [[r["processes_per_lane"], *(fmt(r["cpu_s_per_doc"][p] * 1000) for p in parties)]
                   for r in results])  # fmt: skip
    headline = harness.headline(
        headline_rows(results, f"{args.docs} x {args.pages}-page {kind} PDFs")
    )
    harness.busy_before(background)
    return harness.write_results("scaling", {
        "background_load": background, "settings": results, "headline": headline,
        "parameters": {"docs": args.docs, "pages": args.pages, "kind": kind,
                       "processes_per_lane": [r["processes_per_lane"] for r in results]},
    })  # fmt: skip


if __name__ == "__main__":
    harness.main(run)
