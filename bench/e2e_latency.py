"""End to end: upload -> completed for a 1-page and a 20-page clinical PDF, through gunicorn
and both lanes (real workers, local AI), one document at a time, against the same stages'
plain functions run in this process on the same documents, in the same run. See bench/README.md.
"""

from __future__ import annotations

import os

os.environ["OMP_THREAD_LIMIT"] = "1"  # the in-process baseline, as the fast worker runs

import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import harness
from bench.documents import clinical_pdf
from bench.harness import fmt, log, median

STAGES = ("security_scan", "ocr", "spatial_mapping", "pass1", "pass2", "pass3", "record")


def stage_times(conn: Any, shell_file_id: str) -> dict[str, float]:
    """Seconds each stage of the document's run spent running (job_queue started..completed)."""
    rows = conn.execute(
        "SELECT job_type, extract(epoch FROM completed_at - started_at) FROM job_queue"
        " WHERE shell_file_id = %s AND completed_at IS NOT NULL", (shell_file_id,),
    ).fetchall()  # fmt: skip
    return {job_type: float(seconds) for job_type, seconds in rows if seconds is not None}


def plain_stages(path: Path, engine: Any, provider: Any) -> dict[str, float]:
    """Seconds each stage's plain functions take on the document at `path`, in this process."""
    from app.pipeline import layout, ocr, security
    from app.pipeline.record.mentions import DocumentInfo, document_mentions
    from app.pipeline.record.merge import merge_record

    limits = security.ScanLimits(max_pages=500, max_image_pixels=60_000_000)
    marks = [time.perf_counter()]
    report = security.scan(path, limits, None, claimed_name=path.name)
    marks.append(time.perf_counter())
    pages = list(ocr.iter_pages(path, report.mime_type, range(1, report.page_count + 1), engine))
    marks.append(time.perf_counter())
    text = layout.document_text([layout.map_page(page) for page in pages])
    marks.append(time.perf_counter())
    entities, _ = provider.detect_entities(text)
    marks.append(time.perf_counter())
    records, _ = provider.enrich(text, entities)
    marks.append(time.perf_counter())
    provider.narrate(records, entities)
    marks.append(time.perf_counter())
    document = DocumentInfo(str(uuid.uuid4()), "2026-01-01T00:00:00+00:00", records.document_date)
    merge_record(document_mentions(document, records, entities))  # into an empty profile
    marks.append(time.perf_counter())
    return {stage: marks[i + 1] - marks[i] for i, stage in enumerate(STAGES)}


def baseline(documents: dict[int, list[Path]]) -> dict[int, dict[str, Any]]:
    """Per size: the median of each stage and of the sum over the same documents."""
    from app.pipeline import ocr
    from app.pipeline.ai import make_provider

    engine, provider = ocr.Tesseract(), make_provider("local")
    plain_stages(documents[min(documents)][0], engine, provider)  # warm-up: imports, engine
    figures = {}
    for size, paths in documents.items():
        runs = [plain_stages(path, engine, provider) for path in paths]
        totals = [sum(r.values()) for r in runs]
        stages = {s: median([r[s] for r in runs]) for s in STAGES}
        figures[size] = {"median_s": median(totals), "totals_s": totals, "stages_median_s": stages}
    return figures


def measure(args: Any, env: harness.BenchEnv, procs: harness.Processes,
            docs: dict[int, list[Path]]) -> dict[int, list[dict[str, Any]]]:  # fmt: skip
    """Each document through the service, one at a time, sizes alternating."""
    stack = harness.start_stack(env, procs, args.concurrency)
    samples: dict[int, list[dict[str, Any]]] = {size: [] for size in docs}
    with env.psql() as conn:
        warm = clinical_pdf(env.workdir / "warm.pdf", 1, uuid.uuid4().hex, scanned=args.scanned)
        stack.wait_completed(conn, [stack.upload(warm)], args.timeout)
        for index in range(args.runs):
            for size, paths in docs.items():
                started = time.time()
                shell_file_id = stack.upload(paths[index])
                uploaded = time.time()
                done = stack.wait_completed(conn, [shell_file_id], args.timeout)
                latency = done[shell_file_id] - started
                samples[size].append({"latency_s": latency, "upload_s": uploaded - started,
                                      "stages_s": stage_times(conn, shell_file_id)})  # fmt: skip
                log(f"{size}-page document {index + 1}/{args.runs}: {latency * 1000:.0f} ms")
    stack.stop(procs)
    return samples


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    """Measure with the options `argv`, print the tables, return the figures. RuntimeError if
    a document fails or does not complete within --timeout."""
    parser = harness.parser(__doc__)
    parser.add_argument("--sizes", default="1,20", help="document sizes in pages, comma-separated")
    parser.add_argument("--runs", type=int, default=15, help="documents per size")
    parser.add_argument("--scanned", action="store_true", help="300 dpi image-only PDFs")
    parser.add_argument("--concurrency", type=int, default=2, help="processes per worker")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per document")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    background = harness.begin(args)
    with (
        harness.bench_env("e2e_latency", keep=args.keep_db) as env,
        harness.Processes(env.workdir) as procs,
    ):
        log(f"documents: {args.runs} x {sizes} pages ({'scanned' if args.scanned else 'text'})")
        docs = {size: [clinical_pdf(env.workdir / f"doc-{size}p-{n}.pdf", size, uuid.uuid4().hex,
                                    scanned=args.scanned) for n in range(args.runs)]
                for size in sizes}  # fmt: skip
        samples = measure(args, env, procs, docs)
        log("baseline: the same documents through the stage functions in this process")
        plain = baseline(docs)
    return report(args, samples, plain, background)


def summarise(samples: list[dict[str, Any]], plain: dict[str, Any]) -> dict[str, Any]:
    latencies = [s["latency_s"] for s in samples]
    running = {st: median([s["stages_s"].get(st, float("nan")) for s in samples]) for st in STAGES}
    p50 = median(latencies)
    return {
        "p50_s": p50, "p95_s": harness.percentile(latencies, 95), "mean_s": harness.mean(latencies),
        "upload_p50_s": median([s["upload_s"] for s in samples]),
        "stages_running_median_s": running,
        "waiting_and_bookkeeping_p50_s": p50 - sum(running.values()),
        "baseline_median_s": plain["median_s"],
        "baseline_stages_median_s": plain["stages_median_s"],
        "ratio_p50_over_baseline": harness.ratio(p50, plain["median_s"]),
        "added_p50_s": p50 - plain["median_s"], "latencies_s": latencies,
    }  # fmt: skip


def report(args: Any, samples: dict[int, list[dict[str, Any]]], plain: dict[int, dict[str, Any]],
           background: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    sizes = {size: summarise(samples[size], plain[size]) for size in samples}
    kind = "scanned 300 dpi" if args.scanned else "born-digital"
    ms = ("p50_s", "p95_s", "mean_s", "baseline_median_s")
    harness.table(
        f"## End to end, upload -> completed ({kind} clinical PDFs, {args.runs} per size, one at "
        f"a time; workers: fast and ai, {args.concurrency} processes each, local AI)",
        ["pages", "p50 ms", "p95 ms", "mean ms", "baseline ms (plain functions)", "p50 / baseline",
         "added p50 ms"],
        [[size, *(fmt(s[k] * 1000, 0) for k in ms), fmt(s["ratio_p50_over_baseline"], 2),
          fmt(s["added_p50_s"] * 1000, 0)] for size, s in sizes.items()],
    )  # fmt: skip
    rows = [[stage, *(fmt(s[k][stage] * 1000, 1) for s in sizes.values()
                      for k in ("stages_running_median_s", "baseline_stages_median_s"))]
            for stage in STAGES]  # fmt: skip
    rows.append(
        [
            "waiting + bookkeeping (p50 - stages)",
            *(
                c
                for s in sizes.values()
                for c in (fmt(s["waiting_and_bookkeeping_p50_s"] * 1000, 1), "")
            ),
        ]
    )
    headers = [h for size in sizes for h in (f"{size} p worker", f"{size} p plain")]
    harness.table("Median ms per stage: running in the worker (job_queue) vs the plain functions:",
                  ["stage", *headers], rows)  # fmt: skip
    base = "the same stages' plain functions in one process, same documents"
    headline = harness.headline([
        harness.row(f"End to end {pct}, {size}-page {kind} PDF, upload -> completed",
                    s[f"{pct}_s"] * 1000, "ms", base, s["baseline_median_s"] * 1000)
        for size, s in sizes.items() for pct in ("p50", "p95")])  # fmt: skip
    harness.busy_before(background)
    return harness.write_results("e2e_latency", {
        "background_load": background, "sizes": {str(size): s for size, s in sizes.items()},
        "headline": headline,
        "parameters": {"sizes": list(sizes), "runs": args.runs, "kind": kind,
                       "concurrency": args.concurrency, "ai_provider": "local"},
    })  # fmt: skip


if __name__ == "__main__":
    harness.main(run)
