"""Fast lane end to end: a 100-page 300 dpi scan uploaded through the API and processed by
one fast worker (prefork, 2 processes), against the same pages read sequentially in one
process, in the same run. See bench/README.md.
"""

from __future__ import annotations

import os

os.environ["OMP_THREAD_LIMIT"] = "1"  # the in-process baseline, as the worker runs

import multiprocessing
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC
from pathlib import Path
from typing import Any

from bench import harness
from bench.documents import known_words, word_recall, write_scanned_pdf
from bench.harness import MIB, CpuMeter, fmt, log

FAST_STAGES = ("security_scan", "ocr", "spatial_mapping")
WORKER = "fast worker (parent + pool)"
TASK_DONE = re.compile(
    r"^\[(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+): \w+/(?P<proc>[\w\-]+)\] Task (?P<task>[\w.]+)"
    r"\[[^\]]+\] (?P<outcome>succeeded|retry|raised unexpected)[^\d]*(?P<secs>[\d.]+)?"
)


def job_rows(conn: Any, shell_file_id: str) -> dict[str, dict[str, Any]]:
    """Each job of the document: status, attempts, last error and its times (Unix)."""
    keys = (
        "status",
        "attempts",
        "last_error",
        "created_at",
        "published_at",
        "started_at",
        "completed_at",
    )
    rows = conn.execute(
        f"SELECT job_type, {', '.join(keys)} FROM job_queue WHERE shell_file_id = %s",
        (shell_file_id,),
    ).fetchall()
    found = {row[0]: dict(zip(keys, row[1:], strict=True)) for row in rows}
    for job in found.values():
        for key in keys[3:]:
            job[key] = job[key] and job[key].replace(tzinfo=job[key].tzinfo or UTC).timestamp()
    return found


def wait_done(conn: Any, shell_file_id: str, timeout: float) -> tuple[float, dict[str, Any]]:
    """Poll job_queue until spatial_mapping is completed: (time seen, the jobs)."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = job_rows(conn, shell_file_id)
        if jobs.get("spatial_mapping", {}).get("status") == "completed":
            return time.time(), jobs
        failed = {
            name: (row["status"], row["last_error"])
            for name, row in jobs.items()
            if name in FAST_STAGES and row["status"] in ("failed", "dead_letter", "cancelled")
        }
        if failed:
            raise RuntimeError(f"a fast-lane stage did not complete: {failed}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout}s; jobs: {jobs}")
        time.sleep(0.1)


def checks(conn: Any, shell_file_id: str, pages: int, jobs: dict[str, Any]) -> dict[str, Any]:
    """What the run stored: every page's OCR row and layout, no errors, the scan's verdict."""

    def one(sql: str) -> Any:
        return conn.execute(sql.replace("?", "%s"), (shell_file_id,)).fetchone()

    count, engines, first, last, empty = one(
        "SELECT count(*), array_agg(DISTINCT engine), extract(epoch FROM min(created_at)), "
        "extract(epoch FROM max(created_at)), count(*) FILTER (WHERE is_empty) FROM ocr_pages "
        "WHERE shell_file_id = ?"
    )
    texts = dict(conn.execute("SELECT page_number, text FROM ocr_pages WHERE shell_file_id = %s",
                              (shell_file_id,)).fetchall())  # fmt: skip
    scan = one("SELECT page_count, repaired FROM security_scans WHERE shell_file_id = ?")
    sample = sorted({1, pages // 2, pages} & set(texts))
    attempts = {name: jobs.get(name, {}).get("attempts") for name in FAST_STAGES}
    return {
        "ocr_pages_rows": count, "all_pages_saved": set(texts) == set(range(1, pages + 1)),
        "ocr_engines": engines, "empty_pages": empty, "first_page_saved_at": float(first or 0),
        "last_page_saved_at": float(last or 0), "ocr_attempts": attempts["ocr"],
        "ocr_attempts_is_1": attempts["ocr"] == 1, "stage_attempts": attempts,
        "security_scan": {"page_count": scan[0], "repaired": scan[1]} if scan else None,
        "page_layouts_rows": one("SELECT count(*) FROM page_layouts WHERE shell_file_id = ?")[0],
        "processing_errors": one("SELECT count(*) FROM processing_errors WHERE shell_file_id = ?")[
            0
        ],
        "word_recall_sample": {"pages": sample, "recall": [
            word_recall(texts[n].split(), known_words([n])) for n in sample]},
    }  # fmt: skip


def tasks_from_log(text: str) -> dict[str, Any]:
    """Per pool process: how many tasks of each name it finished and their busy seconds."""
    per_proc: dict[str, dict[str, Any]] = {}
    problems = []
    for match in filter(None, map(TASK_DONE.match, text.splitlines())):
        if match["outcome"] != "succeeded":
            problems.append(match.string[:200])
            continue
        entry = per_proc.setdefault(match["proc"], {"busy_s": 0.0, "tasks": {}, "last_done": 0.0})
        secs = float(match["secs"] or 0.0)
        entry["busy_s"] += secs
        stamp, millis = match["at"].split(",")
        if match["task"] == "fast.ocr_pages":
            done = time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(millis) / 1000
            entry["last_done"] = max(entry["last_done"], done)
        task = entry["tasks"].setdefault(match["task"], {"count": 0, "seconds": 0.0})
        task["count"] += 1
        task["seconds"] += secs
    return {"per_process": per_proc, "problems": problems}


def run_pipeline(
    env: harness.BenchEnv, procs: harness.Processes, doc: Path, args: Any
) -> dict[str, Any]:
    import psutil

    batch = {"OCR_BATCH_PAGES": str(args.batch_pages)} if args.batch_pages else {}
    log("starting gunicorn (1 worker x 4 threads) and the fast worker")
    stack = harness.start_stack(env, procs, args.concurrency, ("fast",), **batch)
    web, worker, identity = stack.web, stack.workers["fast"], stack.identity
    harness.wait_until(lambda: len(psutil.Process(worker.pid).children()) >= args.concurrency,
                       timeout=30, what="the pool processes", child=worker)  # fmt: skip
    time.sleep(1.0)  # let start-up settle
    sampler = harness.RssSampler([worker.pid], tree=True)
    pids = sampler.refresh()
    idle = sampler.now()
    hwm_reset = all(harness.reset_kernel_peak(pid) for pid in pids)
    meter = CpuMeter(
        harness.cpu_groups({WORKER: worker.pid, "gunicorn": web.pid})
        | {"this process (client, poll, sampler)": lambda: sum(os.times()[:2])}
    )
    with env.psql() as conn, sampler:
        meter.start()
        started = time.time()
        answer = harness.post_file(stack.port, identity.token, identity.profile_id, doc,
                                   name="scan-100.pdf")  # fmt: skip
        if answer["status"] != 201:
            raise RuntimeError(f"upload failed: {answer}")
        shell_file_id = answer["body"]["shell_file_id"]
        log(f"uploaded in {time.time() - started:.2f} s; waiting for spatial_mapping")
        seen, jobs = wait_done(conn, shell_file_id, args.timeout)
        cpu = meter.stop()
        result_checks = checks(conn, shell_file_id, args.pages, jobs)
    hwm = {pid: harness.kernel_peak(pid) for pid in sampler.procs}
    final = sampler.now()
    time.sleep(0.5)  # the worker logs the last task
    worker_log = worker.log_text()
    stack.stop(procs)
    return {
        "noise": meter.noise(cpu), "shell_file_id": shell_file_id, "started_at": started,
        "upload": {k: answer[k] for k in ("status", "send_s", "total_s")},
        "wall_s": jobs["spatial_mapping"]["completed_at"] - started,
        "wall_observed_s": seen - started, "jobs": jobs, "cpu_s": cpu,
        "tasks": tasks_from_log(worker_log), "checks": result_checks,
        "rss": {"labels": {p: "parent" if p == worker.pid else f"child {p}" for p in sampler.procs},
                "peak_bytes": sampler.peak, "peak_sum_bytes": sampler.peak_sum, "idle_bytes": idle,
                "final_bytes": final, "kernel_peak_bytes": hwm, "kernel_peak_reset": hwm_reset,
                "samples": sampler.samples},
    }  # fmt: skip


def sample_pages(pages: int, sample: int) -> list[int]:
    """`sample` page numbers spread evenly over the document (all of them if sample >= pages)."""
    if sample >= pages:
        return list(range(1, pages + 1))
    step = pages / sample
    return sorted({min(pages, int(step * i + step / 2) + 1) for i in range(sample)})


def read_pages(doc: Path, numbers: list[int], warm: int, barrier: Any = None) -> dict[str, Any]:
    """`iter_pages` + `map_page` of each page in this process, after a warm-up page (and,
    given a barrier, once every other reader is warm too)."""
    from app.pipeline import layout, ocr

    engine = ocr.Tesseract()
    for page in ocr.iter_pages(doc, "application/pdf", [warm], engine):
        layout.map_page(page)
    if barrier is not None:
        barrier.wait(timeout=120)
    cpu, wall, per_page = time.process_time(), time.perf_counter(), []
    for number in numbers:
        t0 = time.perf_counter()
        (page,) = list(ocr.iter_pages(doc, "application/pdf", [number], engine))
        t1 = time.perf_counter()
        layout.map_page(page)
        per_page.append({"page": number, "ocr_s": t1 - t0, "layout_s": time.perf_counter() - t1})
    return {"pid": os.getpid(), "wall_s": time.perf_counter() - wall,
            "cpu_s": time.process_time() - cpu, "per_page": per_page}  # fmt: skip


def sequential_baseline(doc: Path, pages: int, sample: int) -> dict[str, Any]:
    """The stage functions in this process, one page after another (no database)."""
    from app.pipeline import security

    limits = security.ScanLimits(max_pages=500, max_image_pixels=60_000_000)
    started = time.perf_counter()
    report = security.scan(doc, limits, None, claimed_name=doc.name)
    scan_s = time.perf_counter() - started
    numbers = sample_pages(pages, sample)
    noise = harness.Noise()
    read = read_pages(doc, numbers, min(2, pages))
    per_page = read["per_page"]
    mean_page = read["wall_s"] / len(numbers)
    return {
        "estimated": len(numbers) < pages, "pages_read": numbers, "security_scan_s": scan_s,
        "scan_page_count": report.page_count, "mean_page_s": mean_page,
        "mean_ocr_s": harness.mean([p["ocr_s"] for p in per_page]),
        "mean_layout_s": harness.mean([p["layout_s"] for p in per_page]),
        "cpu_per_page_s": read["cpu_s"] / len(numbers), "noise": round(noise.share(), 3),
        "total_s": scan_s + mean_page * pages, "per_page": per_page,
    }  # fmt: skip


def _parallel_child(doc: str, numbers: list[int], warm: int, barrier: Any, results: Any) -> None:
    """One of the parallel reference's processes: warm up, wait for the others, read pages."""
    os.environ["OMP_THREAD_LIMIT"] = "1"
    results.put(read_pages(Path(doc), numbers, warm, barrier))


def parallel_reference(
    doc: Path, pages: int, sample: int, processes: int, scan_s: float
) -> dict[str, Any]:
    """`processes` fresh processes read the same sample pages at once with the stage
    functions only (no Celery, no database): what the machine gives two Tesseracts at once."""
    ctx = multiprocessing.get_context("spawn")
    numbers, barrier, results = sample_pages(pages, sample), ctx.Barrier(processes), ctx.Queue()
    children = [ctx.Process(target=_parallel_child, daemon=True,
                            args=(str(doc), numbers, min(2, pages), barrier, results))
                for _ in range(processes)]  # fmt: skip
    noise = harness.Noise()
    try:
        for child in children:
            child.start()
        found = [results.get(timeout=300) for _ in children]
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
            child.join(timeout=10)
    per_page = [p["ocr_s"] + p["layout_s"] for r in found for p in r["per_page"]]
    mean_page = harness.mean(per_page)  # seconds per page in each process
    return {"processes": processes, "pages_read_each": numbers, "mean_page_s": mean_page,
            "cpu_per_page_s": sum(r["cpu_s"] for r in found) / len(per_page), "per_process": found,
            # The whole document: every process reads 1/processes of the pages, after one scan.
            "total_s": scan_s + mean_page * pages / processes, "estimated": len(numbers) < pages,
            "noise": round(noise.share(), 3)}  # fmt: skip


def document(args: Any, scratch: Path) -> tuple[Path, dict[str, Any]]:
    folder = Path(args.cache_dir) if args.cache_dir else scratch
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"fast-lane-scan-{args.pages}p-300dpi-v1.pdf"
    if path.exists():
        log(f"document: {path} (cached)")
        return path, {"bytes": path.stat().st_size, "seconds": 0.0, "cached": True}
    log(f"document: writing {args.pages} pages at 300 dpi to {path}")
    made = write_scanned_pdf(path, args.pages)
    log(f"document: {made['bytes'] / MIB:.1f} MiB in {made['seconds']:.1f} s")
    return path, {**made, "cached": False}


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    """Measure with the options `argv`, print the tables, return the figures. RuntimeError if
    the upload is refused or the document does not get through in time."""
    parser = harness.parser(__doc__)
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument(
        "--baseline-pages",
        type=int,
        default=10,
        help="pages the baseline reads, extrapolated to all (0: no baseline)",
    )
    parser.add_argument("--concurrency", type=int, default=2, help="pool processes (Procfile: 2)")
    parser.add_argument("--no-parallel", action="store_true", help="skip the 2-process reference")
    parser.add_argument("--batch-pages", type=int, default=0, help="OCR_BATCH_PAGES (0: unset)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the run")
    parser.add_argument("--cache-dir", default="", help="keep the generated scan here")
    args = parser.parse_args(argv)  # fmt: skip
    scratch = Path(tempfile.mkdtemp(prefix="sfp-fast_lane_e2e-doc-"))
    try:
        doc, made = document(args, scratch)
        background = harness.begin(args)
        with (
            harness.bench_env("fast_lane_e2e", keep=args.keep_db) as env,
            harness.Processes(env.workdir) as procs,
        ):
            measured = run_pipeline(env, procs, doc, args)
        log(f"pipeline: {measured['wall_s']:.1f} s for {args.pages} pages")
        baseline: dict[str, Any] = {}
        if args.baseline_pages > 0:
            log(f"sequential baseline: {min(args.baseline_pages, args.pages)} pages")
            baseline = sequential_baseline(doc, args.pages, args.baseline_pages)
            if args.concurrency > 1 and not args.no_parallel:
                log(f"parallel reference: {args.concurrency} processes at once")
                baseline["parallel"] = parallel_reference(doc, args.pages, args.baseline_pages,
                    args.concurrency, baseline["security_scan_s"])  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return report(args, made, measured, baseline, background)


def print_speed(args: Any, measured: dict[str, Any], baseline: dict[str, Any]) -> float:
    """The pipeline against the baseline and the reference; the speed-up."""
    pages, wall, cores = args.pages, measured["wall_s"], min(args.concurrency, os.cpu_count() or 1)
    rows = [["pipeline: upload -> spatial_mapping completed", fmt(wall, 1), fmt(wall / pages, 3),
             fmt(wall * args.concurrency / pages, 3), ""]]  # fmt: skip
    speedup = harness.ratio(baseline["total_s"], wall) if baseline else float("nan")
    if baseline:
        read = len(baseline["pages_read"])
        sampled = f"estimate from {read} pages" if baseline["estimated"] else "all pages"
        rows.append(
            [
                f"baseline: sequential, 1 process ({sampled})",
                fmt(baseline["total_s"], 1),
                *[fmt(baseline["total_s"] / pages, 3)] * 2,
                f"**{fmt(speedup, 2)}x**",
            ]
        )
    if parallel := baseline.get("parallel"):
        total, n = parallel["total_s"], parallel["processes"]
        each = f"estimate from {len(parallel['pages_read_each'])} pages each"
        rows.append(
            [
                f"reference: {n} processes at once, stage functions only "
                f"({each if parallel['estimated'] else 'all pages each'})",
                fmt(total, 1),
                fmt(total / pages, 3),
                fmt(total * n / pages, 3),
                f"{fmt(harness.ratio(baseline['total_s'], total), 2)}x (pipeline takes "
                f"{fmt(harness.ratio(wall, total), 2)}x its time)",
            ]
        )
    harness.table(
        f"## Fast lane end to end: {pages}-page scan (300 dpi), one fast worker, prefork x "
        f"{args.concurrency}, OCR_BATCH_PAGES {args.batch_pages or 'default (4)'}",
        ["path", "wall s", "s/page", "core-s/page", "speed-up (baseline / this)"],
        rows,
    )
    if baseline:
        b = {k: fmt(v, 3) for k, v in baseline.items() if isinstance(v, float)}
        print(
            f"\nBaseline: security.scan {b['security_scan_s']} s once, then per page "
            f"{b['mean_page_s']} s mean (OCR {b['mean_ocr_s']} + layout {b['mean_layout_s']}; "
            f"CPU {b['cpu_per_page_s']}) on pages {baseline['pages_read']}; other processes "
            f"used {baseline['noise']:.0%} of the machine meanwhile. Ideal with "
            f"{args.concurrency} processes: {fmt(float(cores), 1)}x."
        )
    if parallel:
        slower = harness.ratio(parallel["mean_page_s"], baseline["mean_page_s"])
        print(
            f"Reference: {parallel['processes']} processes reading pages at the same time take "
            f"{fmt(parallel['mean_page_s'], 3)} s per page each (CPU "
            f"{fmt(parallel['cpu_per_page_s'], 3)}), against {fmt(baseline['mean_page_s'], 3)} s "
            f"alone: x{fmt(slower, 3)} from sharing the machine, before any engine cost; other "
            f"processes used {parallel['noise']:.0%} meanwhile."
        )
    return speedup


def print_run(args: Any, measured: dict[str, Any], baseline: dict[str, Any]) -> None:
    """The timeline, the pool's processes and the CPU of every party."""
    t0, jobs, c = measured["started_at"], measured["jobs"], measured["checks"]

    def at(t: float | None) -> str:
        return fmt(t - t0, 2) if t else "-"

    rows = [["upload answered (201)", "", fmt(measured["upload"]["total_s"], 2), ""]]
    for name in FAST_STAGES:
        start, end = jobs.get(name, {}).get("started_at"), jobs.get(name, {}).get("completed_at")
        rows.append([name, at(start), at(end), fmt(end - start, 2) if start and end else "-"])
    rows.append(["  first / last OCR page saved", at(c["first_page_saved_at"]),
                 at(c["last_page_saved_at"]), ""])  # fmt: skip
    harness.table("Timeline (seconds from the upload request):",
                  ["step", "started", "done", "took"], rows)  # fmt: skip
    print_pool(args, measured, at)
    cpu = measured["cpu_s"]
    harness.table(
        "CPU seconds during the run (whole run; per page):",
        ["process", "CPU s", "CPU s/page"],
        [[label, fmt(v, 1), fmt(v / args.pages, 3)] for label, v in cpu.items()],
    )
    per_page = cpu[WORKER] / args.pages
    if baseline:
        base = baseline["cpu_per_page_s"]
        print(f"\nWorker CPU {fmt(per_page, 3)} s/page vs the sequential baseline's "
              f"{fmt(base, 3)} s/page (x{fmt(harness.ratio(per_page, base), 3)}: the engine's own "
              "cost per page, DB writes and all).")  # fmt: skip


def print_pool(args: Any, measured: dict[str, Any], at: Callable[[float | None], str]) -> None:
    """Each pool process's OCR batches and busy time, and the pool's utilisation."""
    jobs, wall = measured["jobs"], measured["wall_s"]
    per_proc, rows = measured["tasks"]["per_process"], []
    for proc, entry in sorted(per_proc.items()):
        b = entry["tasks"].get("fast.ocr_pages", {"count": 0, "seconds": 0.0})
        tasks = entry["tasks"].items()
        others = ", ".join(f"{n.split('.')[-1]} {fmt(t['seconds'], 2)}" for n, t in tasks
                           if n != "fast.ocr_pages")  # fmt: skip
        rows.append([proc, b["count"], fmt(b["seconds"], 1),
                     fmt(harness.ratio(b["seconds"], b["count"]), 2), others or "-",
                     fmt(entry["busy_s"], 1), f"{entry['busy_s'] / wall:.0%}",
                     at(entry["last_done"])])  # fmt: skip
    harness.table("Pool processes (from the worker's log; busy = sum of task run times):",
                  ["process", "OCR batches", "batch s", "s/batch", "other tasks (s)", "busy s",
                   "busy / wall", "last batch done (s)"], rows)  # fmt: skip
    ocr = jobs.get("ocr", {})
    span = (
        ocr["completed_at"] - ocr["started_at"]
        if ocr.get("started_at") and ocr.get("completed_at")
        else float("nan")
    )
    batch_s = sum(
        e["tasks"].get("fast.ocr_pages", {}).get("seconds", 0.0) for e in per_proc.values()
    )
    busy = sum(e["busy_s"] for e in per_proc.values())
    print(
        f"\nOCR stage: {fmt(span, 1)} s wall; batches {fmt(batch_s, 1)} process-s = "
        f"{fmt(batch_s / args.pages, 3)} s/page/process; pool utilisation over the OCR stage "
        f"{batch_s / (args.concurrency * span):.0%}, over the whole run "
        f"{busy / (args.concurrency * wall):.0%}."
    )
    if measured["tasks"]["problems"]:
        print(f"Worker log problems: {measured['tasks']['problems'][:3]}")


def print_memory_and_checks(args: Any, measured: dict[str, Any]) -> float:
    """RSS per worker process and the checks; the largest peak (bytes)."""
    rss, c, pages = measured["rss"], measured["checks"], args.pages
    peaks = {
        pid: max(rss["peak_bytes"].get(pid, 0), rss["kernel_peak_bytes"].get(pid) or 0)
        for pid in rss["labels"]
    }
    kinds = ("idle_bytes", "peak_bytes", "kernel_peak_bytes", "final_bytes")
    rows = [[label, *(fmt((rss[k].get(pid) or 0) / MIB, 0) for k in kinds)]
            for pid, label in rss["labels"].items()]  # fmt: skip
    sums = [
        sum(rss["idle_bytes"].values()),
        rss["peak_sum_bytes"],
        sum(rss["final_bytes"].values()),
    ]
    rows.append(["sum (max of the sampled sums)", *(fmt(v / MIB, 0) for v in sums[:2]), "",
                 fmt(sums[2] / MIB, 0)])  # fmt: skip
    harness.table(
        f"RSS (sampled every 50 ms, {rss['samples']} samples; kernel peak = VmHWM since just "
        "before the upload):",
        ["process", "idle MB", "peak MB", "kernel peak MB", "after MB"],
        rows,
    )

    def ok(good: bool) -> str:
        return "yes" if good else "NO"

    recall = c["word_recall_sample"]
    harness.table("Checks:", ["check", "value", "ok"], [
        ["ocr_pages rows", f"{c['ocr_pages_rows']} / {pages}", ok(c["all_pages_saved"])],
        ["ocr job attempts", c["ocr_attempts"], ok(c["ocr_attempts_is_1"])],
        ["stage attempts", c["stage_attempts"], ""],
        ["OCR engine", ", ".join(c["ocr_engines"] or []), ""],
        ["empty pages", c["empty_pages"], ok(c["empty_pages"] == 0)],
        ["page_layouts rows", c["page_layouts_rows"], ok(c["page_layouts_rows"] == pages)],
        ["processing_errors rows", c["processing_errors"], ok(c["processing_errors"] == 0)],
        ["security scan rewrote the PDF", (c["security_scan"] or {}).get("repaired"), ""],
        [f"word recall (pages {', '.join(map(str, recall['pages']))})",
         ", ".join(f"{r:.1%}" for r in recall["recall"]), ""],
    ])  # fmt: skip
    return max(peaks.values()) if peaks else float("nan")


def report(args: Any, made: dict[str, Any], measured: dict[str, Any], baseline: dict[str, Any],
           background: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    speedup = print_speed(args, measured, baseline)
    print_run(args, measured, baseline)
    peak, wall = print_memory_and_checks(args, measured), measured["wall_s"]
    p, rss, wall_floor = args, measured["rss"], harness.FLOOR_FAST_E2E_WALL_S
    sampled = f", estimated from {len(baseline.get('pages_read', []))} pages"
    headline = harness.headline([
        harness.row(f"{p.pages}-page 300 dpi scan through the fast lane, {p.concurrency} "
                    "processes", wall, "s", "stage functions page after page in one process"
                    + (sampled if baseline.get("estimated") else ""), baseline.get("total_s"),
                    floor=f"<= {wall_floor:.0f} s for 100 pages",
                    met=wall <= wall_floor if p.pages == 100 else None),  # the floor's size
        harness.row("Peak RSS per fast worker process during that scan", peak / MIB,
                    "MiB", "the same processes idle (largest)",
                    max(rss["idle_bytes"].values()) / MIB,
                    floor=f"<= {harness.FLOOR_FAST_E2E_RSS_MB:.0f} MB",
                    met=peak / 1e6 <= harness.FLOOR_FAST_E2E_RSS_MB),
    ])  # fmt: skip
    print(f"\nOther processes used {measured['noise']:.0%} of the machine during the run. Machine "
          f"busy before the benchmark started: {background['busy_percent']:.0f}%.")  # fmt: skip
    harness.warn_noisy(measured["noise"], "the run")
    return harness.write_results("fast_lane_e2e", {
        "background_load": background, "document": made, "wall_s": wall,
        "parameters": {"pages": args.pages, "concurrency": args.concurrency,
                       "omp_thread_limit": "1", "ocr_batch_pages": args.batch_pages or None,
                       "baseline_pages": args.baseline_pages},
        "speedup_over_sequential": speedup, "run": measured, "baseline": baseline,
        "headline": headline,
    })  # fmt: skip


if __name__ == "__main__":
    harness.main(run)
