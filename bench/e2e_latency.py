"""End to end: upload -> completed for a 1-page and a 20-page document, through gunicorn
and both lanes (real workers, local AI provider), against the same stages' plain
functions run in this process on the same documents, in the same run.

    .venv/bin/python -m bench.e2e_latency [--sizes 1,20] [--runs 15] [--scanned]

- Documents: the synthetic clinical corpus (tests/support/clinical_corpus.py), its
  lines refilled into dense pages (up to 40 lines, ~3,000 characters, Helvetica
  10 pt), as a born-digital PDF; `--scanned` renders those pages at 300 dpi into an
  image-only PDF instead (OCR by Tesseract). Every upload gets its own reference
  line, so no upload is a duplicate of another.
- Services: a fresh database `sfp_bench_e2e` (migrated) and Redis db 13, both
  removed/flushed at the end; gunicorn (1 worker x 4 threads) for the uploads; the
  Procfile's `fast` and `ai` workers (prefork, `--concurrency` each, default 2,
  OMP_THREAD_LIMIT=1 for `fast`), `AI_PROVIDER=local`. No beat: the upload
  publishes the chain itself.
- Measured: documents one at a time, sizes alternating; latency from just before
  the upload request to `shell_files.processing_completed_at` (the app's clock,
  the same machine's); p50/p95 per size, and the median time each stage spent
  running (job_queue `started_at`..`completed_at`) and waiting (the rest).
- Baseline, same run, after the workers stopped: the same documents through the
  same stage functions in this process, back to back, no database, no broker:
  `security.scan`, `ocr.iter_pages`, `layout.map_page` + `document_text`, and the
  local provider's `detect_entities`, `enrich`, `narrate`. Its median per size is
  what the work costs; the ratio p50 / baseline is what the service around it
  (HTTP, database, queues, six tasks) multiplies it by.

Nothing is asserted: figures are printed and written to bench/results/e2e_latency.json.
"""

from __future__ import annotations

import os

os.environ["OMP_THREAD_LIMIT"] = "1"  # the in-process baseline, as the fast worker runs

import argparse
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.common import GunicornSettings, fmt, log, markdown_table, median, percentile

NAME = "e2e_latency"
DB_NAME = "sfp_bench_e2e"
REDIS_DB = 13
STAGES = ("security_scan", "ocr", "spatial_mapping", "pass1", "pass2", "pass3")
LINES_PER_PAGE = 40
CHARACTERS_PER_PAGE = 3000
FONT_SIZE = 10
POLL_EVERY_S = 0.02
ENDED = ("failed", "quarantined", "cancelled")


# --------------------------------------------------------------------------- documents


def _corpus_lines() -> Iterator[str]:
    """The corpus's non-empty lines, over and over (new seeds once one corpus is used up)."""
    from tests.support.clinical_corpus import corpus

    seed = 20240312
    while True:
        for doc in corpus(seed, 10):
            for page in doc.pages:
                yield from (line for line in page if line.strip())
        seed += 1


def clinical_pages(count: int, reference: str) -> list[list[str]]:
    """`count` dense pages of corpus lines; the first line names `reference`, so every
    document's bytes differ."""
    lines = _corpus_lines()
    pages: list[list[str]] = []
    for number in range(1, count + 1):
        page = [f"Reference {reference} page {number}"]
        while len(page) < LINES_PER_PAGE and sum(len(x) + 1 for x in page) < CHARACTERS_PER_PAGE:
            page.append(next(lines))
        pages.append(page)
    return pages


def write_document(path: Path, pages: int, reference: str, *, scanned: bool) -> Path:
    """A born-digital PDF of `pages` clinical pages at `path` (300 dpi images if `scanned`)."""
    from tests.support.documents import images_pdf, render_pages, text_pdf

    pdf = text_pdf(clinical_pages(pages, reference), font_size=FONT_SIZE)
    if scanned:
        pdf = images_pdf(render_pages(pdf, dpi=300))
    path.write_bytes(pdf)
    return path


# --------------------------------------------------------------------------- the service


def worker_argv(lane: str, concurrency: int) -> list[str]:
    """The Procfile's `fast`/`ai` line (OMP_THREAD_LIMIT=1 goes in the environment)."""
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
    ]


@dataclass
class Stack:
    """gunicorn and one worker per lane, started by `start_stack`."""

    port: int
    web: common.Child
    workers: dict[str, common.Child]
    identity: common.Identity


def start_stack(env: common.BenchEnv, procs: common.Processes, concurrency: int) -> Stack:
    """The API and both lanes' workers (`concurrency` processes each), ready to take work.
    Raises RuntimeError if one does not start within 90 s."""
    identity = common.create_identity(env, "e2e")
    web, port = common.start_gunicorn(
        procs,
        "web",
        "app:create_app()",
        GunicornSettings(1, 4),
        env.env(AI_PROVIDER="local"),
        "/api/v1/openapi.json",
    )
    workers = {
        lane: procs.start(
            f"worker-{lane}",
            worker_argv(lane, concurrency),
            env.env(AI_PROVIDER="local", OMP_THREAD_LIMIT="1"),
        )
        for lane in ("fast", "ai")
    }
    for lane, child in workers.items():
        common.wait_until(
            lambda c=child: " ready." in c.log_text(),
            timeout=90,
            what=f"the {lane} worker",
            child=child,
        )
    return Stack(port, web, workers, identity)


def upload(stack: Stack, path: Path) -> str:
    """POST `path`; the new shell file's id. Raises RuntimeError unless the API answers 201."""
    from bench.harness import post_file

    answer = post_file(
        stack.port, stack.identity.token, stack.identity.profile_id, path, name=path.name
    )
    if answer["status"] != 201:
        raise RuntimeError(f"upload of {path.name} answered {answer['status']}: {answer['body']}")
    return str(answer["body"]["shell_file_id"])


def wait_completed(
    conn: Any, ids: Sequence[str], *, timeout: float, stack: Stack | None = None
) -> dict[str, float]:
    """Poll until every shell file in `ids` is completed; their `processing_completed_at` as
    Unix time. Raises RuntimeError, naming the error types, if one fails, is quarantined
    or cancelled, or when `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    pending = set(ids)
    done: dict[str, float] = {}
    while pending:
        rows = conn.execute(
            "SELECT id::text, status, processing_completed_at FROM shell_files"
            " WHERE id = ANY(%s::uuid[])",
            (list(pending),),
        ).fetchall()
        for shell_file_id, status, completed_at in rows:
            if status == "completed":
                done[shell_file_id] = completed_at.timestamp()
                pending.discard(shell_file_id)
            elif status in ENDED:
                errors = conn.execute(
                    "SELECT stage, error_type FROM processing_errors WHERE shell_file_id = %s",
                    (shell_file_id,),
                ).fetchall()
                raise RuntimeError(f"shell file {shell_file_id} ended {status}: {errors}")
        if not pending:
            break
        if time.monotonic() > deadline:
            tails = "".join(
                f"\n--- {c.name}\n{c.log_tail(15)}"
                for c in (stack.workers.values() if stack else ())
            )
            raise RuntimeError(f"{len(pending)} documents not completed in {timeout:.0f} s{tails}")
        time.sleep(POLL_EVERY_S)
    return done


def stage_times(conn: Any, shell_file_id: str) -> dict[str, float]:
    """Seconds each stage of the document's run spent running (job_queue started..completed)."""
    rows = conn.execute(
        "SELECT job_type, started_at, completed_at FROM job_queue WHERE shell_file_id = %s",
        (shell_file_id,),
    ).fetchall()
    return {
        job_type: (completed - started).total_seconds()
        for job_type, started, completed in rows
        if isinstance(started, datetime) and isinstance(completed, datetime)
    }


# --------------------------------------------------------------------------- baseline


def plain_stages(path: Path, engine: Any, provider: Any) -> dict[str, float]:
    """Seconds each stage's plain functions take on the document at `path`, in this process."""
    from app.pipeline import layout, ocr, security

    limits = security.ScanLimits(max_pages=500, max_image_pixels=60_000_000)
    clock = time.perf_counter
    t0 = clock()
    report = security.scan(path, limits, None, claimed_name=path.name)
    t1 = clock()
    pages = list(ocr.iter_pages(path, report.mime_type, range(1, report.page_count + 1), engine))
    t2 = clock()
    text = layout.document_text([layout.map_page(page) for page in pages])
    t3 = clock()
    entities, _ = provider.detect_entities(text)
    t4 = clock()
    records, _ = provider.enrich(text, entities)
    t5 = clock()
    provider.narrate(records, entities)
    t6 = clock()
    return dict(zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5), strict=True))


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
        figures[size] = {
            "median_s": median(totals),
            "stages_median_s": {s: median([r[s] for r in runs]) for s in STAGES},
            "totals_s": totals,
        }
    return figures


# --------------------------------------------------------------------------- run


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="1,20", help="document sizes in pages, comma-separated")
    parser.add_argument("--runs", type=int, default=15, help="documents per size")
    parser.add_argument("--scanned", action="store_true", help="300 dpi image-only PDFs")
    parser.add_argument("--concurrency", type=int, default=2, help="processes per worker")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per document")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to this long for the machine to be under 10%% busy",
    )
    parser.add_argument("--keep-db", action="store_true")
    return parser.parse_args(argv)


def measure(
    args: argparse.Namespace,
    env: common.BenchEnv,
    procs: common.Processes,
    docs: dict[int, list[Path]],
) -> dict[int, list[dict[str, Any]]]:
    """Each document through the service, one at a time, sizes alternating."""
    stack = start_stack(env, procs, args.concurrency)
    samples: dict[int, list[dict[str, Any]]] = {size: [] for size in docs}
    conn = env.psql()
    try:
        warm = write_document(env.workdir / "warm.pdf", 1, uuid.uuid4().hex, scanned=args.scanned)
        wait_completed(conn, [upload(stack, warm)], timeout=args.timeout, stack=stack)
        for index in range(args.runs):
            for size, paths in docs.items():
                started = time.time()
                shell_file_id = upload(stack, paths[index])
                uploaded = time.time()
                done = wait_completed(conn, [shell_file_id], timeout=args.timeout, stack=stack)
                stages = stage_times(conn, shell_file_id)
                latency = done[shell_file_id] - started
                samples[size].append(
                    {"latency_s": latency, "upload_s": uploaded - started, "stages_s": stages}
                )
                log(f"{size}-page document {index + 1}/{args.runs}: {latency * 1000:.0f} ms")
    finally:
        conn.close()
        for child in (*stack.workers.values(), stack.web):
            procs.stop(child)
    return samples


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    """Measure with the options `argv` (as on the command line), print the tables, and
    return the figures written to bench/results/e2e_latency.json. Raises RuntimeError if a
    document fails or does not complete within --timeout."""
    args = parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    common.wait_for_quiet(args.wait_quiet)
    background = common.background_load()
    with (
        common.bench_env(NAME, DB_NAME, REDIS_DB, keep=args.keep_db) as env,
        common.Processes(env.workdir) as procs,
    ):
        kind = "scanned" if args.scanned else "born-digital"
        log(f"documents: {args.runs} x {sizes} pages ({kind})")
        docs = {
            size: [
                write_document(
                    env.workdir / f"doc-{size}p-{n}.pdf",
                    size,
                    uuid.uuid4().hex,
                    scanned=args.scanned,
                )
                for n in range(args.runs)
            ]
            for size in sizes
        }
        samples = measure(args, env, procs, docs)
        log("baseline: the same documents through the stage functions in this process")
        plain = baseline(docs)
    return report(args, samples, plain, background)


def summarise(samples: list[dict[str, Any]], plain: dict[str, Any]) -> dict[str, Any]:
    latencies = [s["latency_s"] for s in samples]
    running = {st: median([s["stages_s"].get(st, float("nan")) for s in samples]) for st in STAGES}
    p50 = median(latencies)
    return {
        "p50_s": p50,
        "p95_s": percentile(latencies, 95),
        "mean_s": sum(latencies) / len(latencies),
        "upload_p50_s": median([s["upload_s"] for s in samples]),
        "stages_running_median_s": running,
        "waiting_and_bookkeeping_p50_s": p50 - sum(running.values()),
        "baseline_median_s": plain["median_s"],
        "baseline_stages_median_s": plain["stages_median_s"],
        "ratio_p50_over_baseline": common.ratio(p50, plain["median_s"]),
        "added_p50_s": p50 - plain["median_s"],
        "latencies_s": latencies,
    }


def report(
    args: argparse.Namespace,
    samples: dict[int, list[dict[str, Any]]],
    plain: dict[int, dict[str, Any]],
    background: dict[str, Any],
) -> dict[str, Any]:
    sizes = {size: summarise(samples[size], plain[size]) for size in samples}
    kind = "scanned 300 dpi" if args.scanned else "born-digital"
    print(
        f"\n## End to end, upload -> completed ({kind} clinical PDFs, {args.runs} per size, one "
        f"at a time; workers: fast and ai, {args.concurrency} processes each, local AI)\n"
    )
    print(
        markdown_table(
            [
                "pages",
                "p50 ms",
                "p95 ms",
                "mean ms",
                "baseline ms (plain functions)",
                "p50 / baseline",
                "added p50 ms",
            ],
            [
                [
                    str(size),
                    fmt(s["p50_s"] * 1000, 0),
                    fmt(s["p95_s"] * 1000, 0),
                    fmt(s["mean_s"] * 1000, 0),
                    fmt(s["baseline_median_s"] * 1000, 0),
                    fmt(s["ratio_p50_over_baseline"], 2),
                    fmt(s["added_p50_s"] * 1000, 0),
                ]
                for size, s in sizes.items()
            ],
        )
    )
    print("\nMedian ms per stage: running in the worker (job_queue) vs the plain functions:\n")
    rows = []
    for stage in STAGES:
        row = [stage]
        for s in sizes.values():
            row += [
                fmt(s["stages_running_median_s"][stage] * 1000, 1),
                fmt(s["baseline_stages_median_s"][stage] * 1000, 1),
            ]
        rows.append(row)
    rows.append(
        ["waiting + bookkeeping (p50 - stages)"]
        + [
            c
            for s in sizes.values()
            for c in (fmt(s["waiting_and_bookkeeping_p50_s"] * 1000, 1), "")
        ]
    )
    headers = ["stage"] + [h for size in sizes for h in (f"{size} p worker", f"{size} p plain")]
    print(markdown_table(headers, rows))
    print(f"\nMachine busy before the benchmark started: {background['busy_percent']:.0f}%.")
    payload: dict[str, Any] = {
        "background_load": background,
        "parameters": {
            "sizes": list(sizes),
            "runs": args.runs,
            "kind": kind,
            "concurrency": args.concurrency,
            "ai_provider": "local",
        },
        "sizes": {str(size): s for size, s in sizes.items()},
    }
    path = common.write_results(NAME, payload)
    print(f"\nresults: {path.relative_to(common.PROJECT_ROOT)}")
    return payload


def main() -> None:
    common.install_signal_handlers()
    run(sys.argv[1:])


if __name__ == "__main__":
    main()
