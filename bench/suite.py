"""The benchmark suite: every figure of the project in one command, in one table.

    .venv/bin/python -m bench.suite [--quick] [--out bench/results] [--only NAME,...]

Runs each benchmark's `run(argv)` (bench/<name>.py) in a fresh child process, one
after another, so that no figure carries another's imports, memory peak or
threads; each prints its own tables as it goes. From the figures each returns, the
suite keeps the headline rows `{figure, value, unit, baseline, baseline_value,
ratio, floor, met, command}` (each baseline measured in the same run as its figure;
`command` reproduces that figure alone), writes them to
`<out>/suite-<timestamp>.json` and `.md`, and `<out>/latest.md` / `latest.json`,
and prints the markdown table. `--quick` runs everything with small sizes, as a
smoke check of the whole suite (about 3 minutes); its figures are not the
project's figures.

A benchmark that fails (a missing tool, a service down, a document that fails)
gets a FAILED row with its error's first line; the others still run, and the exit
code is 1. Nothing is asserted about timings: floors are printed as met or not.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import multiprocessing
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.common import log

MIB = 1024 * 1024


@dataclass(frozen=True)
class Row:
    """One figure of the suite, with the baseline measured in the same run."""

    figure: str
    value: float | None
    unit: str
    baseline: str
    baseline_value: float | None
    ratio: float | None
    floor: str
    met: bool | None
    command: str


def row(
    figure: str,
    value: float | None,
    unit: str,
    baseline: str,
    baseline_value: float | None,
    command: str,
    *,
    floor: str = "",
    met: bool | None = None,
    ratio: float | None = None,
) -> Row:
    """A row; the ratio is value / baseline_value unless given."""
    if ratio is None and value is not None and baseline_value:
        ratio = value / baseline_value
    return Row(figure, value, unit, baseline, baseline_value, ratio, floor, met, command)


# --------------------------------------------------------------------------- figures


def upload_rows(r: Mapping[str, Any], command: str) -> list[Row]:
    from bench.harness import FLOOR_UPLOAD_P99_MS as FLOOR_P99_MS
    from bench.harness import FLOOR_UPLOAD_RATIO as FLOOR_RATIO
    from bench.harness import FLOOR_UPLOADS_PER_S

    ours, bare, p = r["ours"], r["bare"], r["parameters"]
    load = f"{p['file_bytes'] / 1000:.0f} KB PDFs, {p['connections']} clients"
    base = "bare Flask + 1 row, same gunicorn"
    ratio = r["ratio_uploads_per_s"]
    return [
        row(
            f"Upload throughput ({load})",
            ours["uploads_per_s"],
            "uploads/s",
            base,
            bare["uploads_per_s"],
            command,
            floor=f">= {FLOOR_UPLOADS_PER_S:.0f}/s and >= {FLOOR_RATIO}x bare",
            met=ours["uploads_per_s"] >= FLOOR_UPLOADS_PER_S and ratio >= FLOOR_RATIO,
        ),
        row(f"Upload latency p50 ({load})", ours["p50_ms"], "ms", base, bare["p50_ms"], command),
        row(
            f"Upload latency p99 ({load})",
            ours["p99_ms"],
            "ms",
            base,
            bare["p99_ms"],
            command,
            floor=f"<= {FLOOR_P99_MS:.0f} ms",
            met=ours["p99_ms"] <= FLOOR_P99_MS,
        ),
    ]


def engine_rows(r: Mapping[str, Any], command: str) -> list[Row]:
    from bench.engine_overhead import FLOOR_ADDED_P50_MS, FLOOR_THROUGHPUT_RATIO

    tput, lat = r["throughput_docs_per_s"], r["latency_ms"]
    base = "raw Celery chain of the same 6 tasks, same workers"
    added = r["added_latency_ms"]["p50"]
    return [
        row(
            "Engine throughput, 6 no-op stages",
            tput["engine"],
            "docs/s",
            base,
            tput["raw"],
            command,
            floor=f">= {FLOOR_THROUGHPUT_RATIO}x raw",
            met=r["throughput_ratio"] >= FLOOR_THROUGHPUT_RATIO,
        ),
        row(
            "Engine latency p50, 6 no-op stages",
            lat["engine"]["p50"],
            "ms",
            base,
            lat["raw"]["p50"],
            command,
            floor=f"<= +{FLOOR_ADDED_P50_MS:.0f} ms over raw",
            met=added <= FLOOR_ADDED_P50_MS,
        ),
    ]


def memory_rows(r: Mapping[str, Any], command: str) -> list[Row]:
    uploads, idle = r["uploads"], r["idle_rss_bytes"]
    growth = max(u["rss_peak"] - idle[str(u["worker_pid"])] for u in uploads)
    size = max(u["file_bytes"] for u in uploads)
    accepted = all(u["status"] == 201 for u in uploads)
    return [
        row(
            f"Web worker RSS growth during a {size / 1e6:.0f} MB upload",
            growth / MIB,
            "MiB",
            f"the file's size (worker idle: {min(idle.values()) / MIB:.0f} MiB)",
            size / MIB,
            command,
            floor="< 0.5x the file, upload accepted",
            met=r["worst_growth_over_file"] < 0.5 and accepted,
        )
    ]


def fast_lane_rows(r: Mapping[str, Any], command: str) -> list[Row]:
    from bench.fast_lane import FLOOR_BORN_DIGITAL_MS, FLOOR_SCAN_S_PER_PAGE

    digital = r["born_digital"]["figures"]
    rows = [
        row(
            "Fast lane, born-digital page (text layer + layout)",
            digital["ours_ms_per_page"],
            "ms/page",
            "pypdfium2 text only",
            digital["raw_ms_per_page"],
            command,
            floor=f"<= {FLOOR_BORN_DIGITAL_MS:.0f} ms/page",
            met=digital["ours_ms_per_page"] <= FLOOR_BORN_DIGITAL_MS,
        )
    ]
    if r.get("scanned"):
        scan = r["scanned"]["figures"]
        rows.append(
            row(
                "Fast lane, scanned A4 page at 300 dpi (render + OCR + layout)",
                scan["ours_s_per_page"],
                "s/page",
                "tesseract CLI, 1 thread, same pages",
                scan["cli_s_per_page"],
                command,
                floor=f"<= {FLOOR_SCAN_S_PER_PAGE} s/page/core",
                met=scan["ours_s_per_page"] <= FLOOR_SCAN_S_PER_PAGE,
            )
        )
    return rows


def fast_e2e_rows(r: Mapping[str, Any], command: str) -> list[Row]:
    from bench.fast_lane_e2e import FLOOR_RSS_MB, FLOOR_WALL_S

    p, run, baseline = r["parameters"], r["run"], r.get("baseline") or {}
    rss = run["rss"]
    peaks = [
        max(rss["peak_bytes"].get(pid, 0), rss["kernel_peak_bytes"].get(pid) or 0)
        for pid in rss["labels"]
    ]
    sampled = "estimated from " + str(len(baseline.get("pages_read", []))) + " pages"
    full = p["pages"] == 100  # the floor is set for 100 pages
    return [
        row(
            f"{p['pages']}-page 300 dpi scan through the fast lane, {p['concurrency']} processes",
            r["wall_s"],
            "s",
            "stage functions page after page in one process"
            + (f", {sampled}" if baseline.get("estimated") else ""),
            baseline.get("total_s"),
            command,
            floor=f"<= {FLOOR_WALL_S:.0f} s for 100 pages",
            met=r["wall_s"] <= FLOOR_WALL_S if full else None,
        ),
        row(
            "Peak RSS per fast worker process during that scan",
            max(peaks) / MIB,
            "MiB",
            "the same processes idle (largest)",
            max(rss["idle_bytes"].values()) / MIB,
            command,
            floor=f"<= {FLOOR_RSS_MB:.0f} MB",
            met=max(peaks) / 1e6 <= FLOOR_RSS_MB,
        ),
    ]


def ai_speed_rows(r: Mapping[str, Any], command: str) -> list[Row]:
    from bench.ai_speed import FLOOR_MS_PER_PAGE

    floor = f"<= {FLOOR_MS_PER_PAGE:.0f} ms/page"
    return [
        row(
            "AI lane, local provider, passes 1-3 (corpus pages)",
            r["ms_per_page"],
            "ms/page",
            "one regex word scan of the same text",
            r["word_scan_ms_per_page"],
            command,
            floor=floor,
            met=r["ms_per_page"] <= FLOOR_MS_PER_PAGE,
        ),
        row(
            "AI lane, local provider, passes 1-3 (dense ~3,000-character pages)",
            r["dense_ms_per_page"],
            "ms/page",
            "one regex word scan of the same text",
            r["dense_word_scan_ms_per_page"],
            command,
            floor=floor,
            met=r["dense_ms_per_page"] <= FLOOR_MS_PER_PAGE,
        ),
    ]


def ai_quality_rows(r: Mapping[str, Any], command: str) -> list[Row]:
    scores, floors = r["corpus"]["entities"], r["floors"]
    gold = "gold annotations of the synthetic corpus"
    rows = [
        row(
            f"AI lane F1, {kind}",
            scores[kind]["f1"],
            "F1",
            gold,
            None,
            command,
            floor=f">= {floors[kind]}",
            met=scores[kind]["f1"] >= floors[kind],
        )
        for kind in ("medication", "lab_result", "vital_sign")
        if kind in scores
    ]
    others = {
        k: v["f1"] for k, v in scores.items() if k not in ("medication", "lab_result", "vital_sign")
    }
    if others:
        lowest = min(others, key=lambda k: others[k])
        rows.append(
            row(
                f"AI lane F1, other types (lowest: {lowest})",
                others[lowest],
                "F1",
                gold,
                None,
                command,
                floor=f">= {floors[lowest]}",
                met=all(others[k] >= floors[k] for k in others),
            )
        )
    negation = r["corpus"]["negation_accuracy"]
    rows.append(
        row(
            "AI lane negation right",
            negation,
            "share",
            gold,
            None,
            command,
            floor=f">= {r['negation_floor']}",
            met=negation >= r["negation_floor"],
        )
    )
    return rows


def e2e_rows(r: Mapping[str, Any], command: str) -> list[Row]:
    kind = r["parameters"]["kind"]
    rows = []
    for size, s in r["sizes"].items():
        base = "the same stages' plain functions in one process, same documents"
        for pct in ("p50", "p95"):
            rows.append(
                row(
                    f"End to end {pct}, {size}-page {kind} PDF, upload -> completed",
                    s[f"{pct}_s"] * 1000,
                    "ms",
                    base,
                    s["baseline_median_s"] * 1000,
                    command,
                )
            )
    return rows


def scaling_rows(r: Mapping[str, Any], command: str) -> list[Row]:
    settings = r["settings"]
    first, p = settings[0], r["parameters"]
    batch = f"{p['docs']} x {p['pages']}-page {p['kind']} PDFs"
    base = f"same batch, {first['processes_per_lane']} process per lane"
    rows = []
    for s in settings[1:]:
        n = s["processes_per_lane"]
        rows.append(
            row(
                f"Throughput, {n} worker processes per lane ({batch})",
                s["docs_per_s"],
                "docs/s",
                base,
                first["docs_per_s"],
                command,
            )
        )
        rows.append(
            row(
                f"CPU per document, {n} worker processes per lane",
                s["cpu_s_per_doc_total"] * 1000,
                "ms/doc",
                base,
                first["cpu_s_per_doc_total"] * 1000,
                command,
            )
        )
    return rows


@dataclass(frozen=True)
class Bench:
    name: str  # the module bench/<name>.py, whose run(argv) returns its figures
    full: tuple[str, ...]
    quick: tuple[str, ...]
    rows: Callable[[Mapping[str, Any], str], list[Row]]


BENCHES: tuple[Bench, ...] = (
    Bench(
        "upload_throughput",
        (),
        ("--reps", "1", "--duration", "2", "--warmup", "1", "--no-phases", "--noisy-retries", "0"),
        upload_rows,
    ),
    Bench(
        "engine_overhead",
        (),
        ("--docs", "20", "--reps", "1", "--sequential", "5", "--no-phases"),
        engine_rows,
    ),
    Bench("upload_memory", (), ("--size-mb", "20", "--uploads", "1"), memory_rows),
    Bench(
        "fast_lane",
        (),
        ("--pages", "3", "--reps", "1", "--scan-pages", "1", "--noisy-retries", "0"),
        fast_lane_rows,
    ),
    Bench(
        "fast_lane_e2e",
        (),
        ("--pages", "6", "--baseline-pages", "1", "--no-parallel"),
        fast_e2e_rows,
    ),
    Bench("ai_speed", (), ("--rounds", "1", "--long-pages", "10"), ai_speed_rows),
    Bench("ai_quality", (), ("--per-kind", "2"), ai_quality_rows),
    Bench("e2e_latency", (), ("--runs", "2"), e2e_rows),
    Bench("scaling", (), ("--docs", "6", "--pages", "2"), scaling_rows),
)


# --------------------------------------------------------------------------- running


class BenchFailed(Exception):
    """A benchmark ended without its figures."""


def _child(name: str, argv: list[str], send: Any) -> None:
    """In the child process: run the benchmark, send back ("ok", figures as JSON) or
    ("error", the exception's first line)."""
    common.install_signal_handlers()
    try:
        module = importlib.import_module(f"bench.{name}")
        figures = module.run(argv)
        send.send(("ok", json.dumps(figures, default=str)))
    except SystemExit as exc:  # a script's "cannot run here" (wrk missing, services down)
        send.send(("error", f"SystemExit: {exc.code}"))
    except Exception as exc:  # noqa: BLE001 - reported as the benchmark's failure
        traceback.print_exc()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        send.send(("error", f"{type(exc).__name__}: {first[:300]}"))


def _stop(child: Any) -> None:
    if child.is_alive():
        child.terminate()  # SIGTERM: the benchmark tears its processes down
        child.join(timeout=60)
    if child.is_alive():
        child.kill()
        child.join()


def run_isolated(name: str, argv: Sequence[str]) -> dict[str, Any]:
    """`bench.<name>.run(argv)` in a fresh process; its figures. Raises BenchFailed."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    # Not a daemon: benchmarks start processes of their own (multiprocessing too).
    child = ctx.Process(target=_child, args=(name, list(argv), send), name=f"bench-{name}")
    child.start()
    send.close()
    try:
        status, body = receive.recv()
    except EOFError:
        child.join(timeout=30)
        raise BenchFailed(f"exited (code {child.exitcode}) without its figures") from None
    except BaseException:
        _stop(child)
        raise
    child.join(timeout=60)
    _stop(child)
    if status != "ok":
        raise BenchFailed(body)
    return dict(json.loads(body))


def measure(bench: Bench, quick: bool) -> tuple[list[Row], dict[str, Any]]:
    """The rows of one benchmark (one FAILED row if it failed), and how its run went."""
    argv = bench.quick if quick else bench.full
    command = " ".join(["python -m bench." + bench.name, *argv])
    log(f"suite: {command}")
    started = time.monotonic()
    try:
        rows = bench.rows(run_isolated(bench.name, argv), command)
        error = None
    except (BenchFailed, KeyError, TypeError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, BenchFailed) else str(exc)
        rows = [row(f"{bench.name}: FAILED ({error})", None, "", "", None, command)]
    seconds = time.monotonic() - started
    log(f"suite: {bench.name} {'failed' if error else 'done'} in {seconds:.0f} s")
    return rows, {"name": bench.name, "seconds": round(seconds, 1), "error": error}


# --------------------------------------------------------------------------- tables


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(rows: Sequence[Row], meta: Mapping[str, Any]) -> str:
    """The suite's table (and a header naming the run) as markdown."""
    machine = meta.get("machine", {})
    lines = [
        f"# Benchmark suite, {meta.get('mode', '?')} run, {meta.get('finished_at', '?')}",
        "",
        f"Machine: {machine.get('cpus', '?')} CPUs ({machine.get('cpu_model') or '?'}), "
        f"{machine.get('memory_gib', '?')} GiB; busy before the run: "
        f"{meta.get('busy_percent_before', '?')}%. Commit {str(meta.get('commit', '?'))[:12]}.",
        "",
    ]
    table_rows = []
    for r in rows:
        floor = r.floor
        if r.met is not None:
            floor = f"{floor}: {'met' if r.met else '**NOT met**'}"
        baseline = r.baseline
        if r.baseline_value is not None:
            baseline = f"{baseline}: {_number(r.baseline_value)} {r.unit}"
        value = f"{_number(r.value)} {r.unit}".strip() if r.value is not None else "-"
        table_rows.append(
            [
                _cell(r.figure),
                value,
                _cell(baseline) or "-",
                f"{_number(r.ratio)}x" if r.ratio is not None else "-",
                _cell(floor) or "-",
                f"`{r.command}`",
            ]
        )
    headers = ["figure", "value", "baseline (same run)", "ratio", "floor", "command"]
    lines.append(common.markdown_table(headers, table_rows))
    failed = [b for b in meta.get("benchmarks", []) if b.get("error")]
    if failed:
        lines += ["", "Failed: " + "; ".join(f"{b['name']} ({b['error']})" for b in failed)]
    return "\n".join(lines) + "\n"


def _plain(value: Any) -> Any:
    """NaN and infinities as null, so the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def results_json(rows: Sequence[Row], meta: Mapping[str, Any]) -> dict[str, Any]:
    """The suite's rows and run description as a JSON-ready object."""
    return {
        **meta,
        "rows": [{k: _plain(v) for k, v in asdict(r).items()} for r in rows],
    }


def write_tables(rows: Sequence[Row], meta: Mapping[str, Any], out: Path, stamp: str) -> list[Path]:
    """suite-<stamp>.json/.md and latest.json/.md in `out`; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    markdown = render_markdown(rows, meta)
    body = json.dumps(results_json(rows, meta), indent=2, allow_nan=False) + "\n"
    paths = []
    for stem in (f"suite-{stamp}", "latest"):
        for suffix, text in ((".md", markdown), (".json", body)):
            path = out / f"{stem}{suffix}"
            path.write_text(text)
            paths.append(path)
    return paths


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke check")
    parser.add_argument("--out", type=Path, default=common.RESULTS_DIR, help="results folder")
    names = ", ".join(b.name for b in BENCHES)
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {names}")
    return parser.parse_args(argv)


def selected(only: str) -> list[Bench]:
    wanted = [n.strip() for n in only.split(",") if n.strip()]
    unknown = set(wanted) - {b.name for b in BENCHES}
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    return [b for b in BENCHES if not wanted or b.name in wanted]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    benches = selected(args.only)
    common.install_signal_handlers()
    background = common.background_load()
    started = datetime.now(UTC)
    rows: list[Row] = []
    runs: list[dict[str, Any]] = []
    for bench in benches:
        bench_rows, outcome = measure(bench, args.quick)
        rows += bench_rows
        runs.append(outcome)
    finished = datetime.now(UTC)
    code = common.code_state()
    meta = {
        "mode": "quick" if args.quick else "full",
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": finished.isoformat(timespec="seconds"),
        "machine": common.machine_info(),
        "commit": code["head"],
        "uncommitted_changes": code["uncommitted_changes"],
        "busy_percent_before": background["busy_percent"],
        "benchmarks": runs,
    }
    paths = write_tables(rows, meta, args.out, started.strftime("%Y%m%dT%H%M%SZ"))
    print("\n" + render_markdown(rows, meta))
    print("written: " + ", ".join(_shown(p) for p in paths))
    return 1 if any(r["error"] for r in runs) else 0


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(common.PROJECT_ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
