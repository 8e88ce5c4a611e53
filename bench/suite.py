"""The benchmark suite: every figure of the project in one command, in one table.

    .venv/bin/python -m bench.suite [--quick] [--out bench/results] [--only NAME,...]

Runs each benchmark's `run(argv)` in a fresh child process, one after another (no figure
carries another's imports, memory peak or threads); each prints its own tables. From the
figures each returns, the suite keeps the headline rows, each with its baseline measured
in the same run and the command that measures it alone, and writes them to
`<out>/suite-<timestamp>.json` and `.md` and `latest.*`. `--quick`: small sizes, a smoke
check (~3 min). A benchmark that fails gets a FAILED row; the exit code is then 1.
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

from bench import harness
from bench.harness import MIB, log

R = Mapping[str, Any]


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


def row(figure: str, value: float | None, unit: str, baseline: str, baseline_value: float | None,
        command: str, *, floor: str = "", met: bool | None = None,
        ratio: float | None = None) -> Row:  # fmt: skip
    """A row; the ratio is value / baseline_value unless given."""
    if ratio is None and value is not None and baseline_value:
        ratio = value / baseline_value
    return Row(figure, value, unit, baseline, baseline_value, ratio, floor, met, command)


def upload_rows(r: R, command: str) -> list[Row]:
    ours, bare, p = r["ours"], r["bare"], r["parameters"]
    load = f"{p['file_bytes'] / 1000:.0f} KB PDFs, {p['connections']} clients"
    base, tput, p99 = "bare Flask + 1 row, same gunicorn", ours["uploads_per_s"], ours["p99_ms"]
    floor = f">= {harness.FLOOR_UPLOADS_PER_S:.0f}/s and >= {harness.FLOOR_UPLOAD_RATIO}x bare"
    met = (
        tput >= harness.FLOOR_UPLOADS_PER_S
        and r["ratio_uploads_per_s"] >= harness.FLOOR_UPLOAD_RATIO
    )
    return [
        row(
            f"Upload throughput ({load})",
            tput,
            "uploads/s",
            base,
            bare["uploads_per_s"],
            command,
            floor=floor,
            met=met,
        ),
        row(f"Upload latency p50 ({load})", ours["p50_ms"], "ms", base, bare["p50_ms"], command),
        row(
            f"Upload latency p99 ({load})",
            p99,
            "ms",
            base,
            bare["p99_ms"],
            command,
            floor=f"<= {harness.FLOOR_UPLOAD_P99_MS:.0f} ms",
            met=p99 <= harness.FLOOR_UPLOAD_P99_MS,
        ),
    ]


def engine_rows(r: R, command: str) -> list[Row]:
    tput, lat, added = r["throughput_docs_per_s"], r["latency_ms"], r["added_latency_ms"]["p50"]
    base = "raw Celery chain of the same 6 tasks, same workers"
    return [
        row(
            "Engine throughput, 6 no-op stages",
            tput["engine"],
            "docs/s",
            base,
            tput["raw"],
            command,
            floor=f">= {harness.FLOOR_ENGINE_RATIO}x raw",
            met=r["throughput_ratio"] >= harness.FLOOR_ENGINE_RATIO,
        ),
        row(
            "Engine latency p50, 6 no-op stages",
            lat["engine"]["p50"],
            "ms",
            base,
            lat["raw"]["p50"],
            command,
            floor=f"<= +{harness.FLOOR_ENGINE_ADDED_P50_MS:.0f} ms over raw",
            met=added <= harness.FLOOR_ENGINE_ADDED_P50_MS,
        ),
    ]


def memory_rows(r: R, command: str) -> list[Row]:
    uploads, idle = r["uploads"], r["idle_rss_bytes"]
    growth = max(u["rss_peak"] - idle[str(u["worker_pid"])] for u in uploads)
    size = max(u["file_bytes"] for u in uploads)
    accepted = all(u["status"] == 201 for u in uploads)
    baseline = f"the file's size (worker idle: {min(idle.values()) / MIB:.0f} MiB)"
    return [
        row(
            f"Web worker RSS growth during a {size / 1e6:.0f} MB upload",
            growth / MIB,
            "MiB",
            baseline,
            size / MIB,
            command,
            floor="< 0.5x the file, upload accepted",
            met=r["worst_growth_over_file"] < harness.FLOOR_MEMORY_GROWTH and accepted,
        )
    ]


def fast_lane_rows(r: R, command: str) -> list[Row]:
    digital, ms = r["born_digital"]["figures"], harness.FLOOR_BORN_DIGITAL_MS
    rows = [
        row(
            "Fast lane, born-digital page (text layer + layout)",
            digital["ours_ms_per_page"],
            "ms/page",
            "pypdfium2 text only",
            digital["raw_ms_per_page"],
            command,
            floor=f"<= {ms:.0f} ms/page",
            met=digital["ours_ms_per_page"] <= ms,
        )
    ]
    if r.get("scanned"):
        scan, s = r["scanned"]["figures"], harness.FLOOR_SCAN_S_PER_PAGE
        rows.append(row("Fast lane, scanned A4 page at 300 dpi (render + OCR + layout)",
                        scan["ours_s_per_page"], "s/page", "tesseract CLI, 1 thread, same pages",
                        scan["cli_s_per_page"], command, floor=f"<= {s} s/page/core",
                        met=scan["ours_s_per_page"] <= s))  # fmt: skip
    return rows


def fast_e2e_rows(r: R, command: str) -> list[Row]:
    p, rss, baseline = r["parameters"], r["run"]["rss"], r.get("baseline") or {}
    peak = max(max(rss["peak_bytes"].get(pid, 0), rss["kernel_peak_bytes"].get(pid) or 0)
               for pid in rss["labels"])  # fmt: skip
    sampled = f", estimated from {len(baseline.get('pages_read', []))} pages"
    wall, mb = harness.FLOOR_FAST_E2E_WALL_S, harness.FLOOR_FAST_E2E_RSS_MB
    return [
        row(f"{p['pages']}-page 300 dpi scan through the fast lane, {p['concurrency']} processes",
            r["wall_s"], "s", "stage functions page after page in one process"
            + (sampled if baseline.get("estimated") else ""), baseline.get("total_s"), command,
            floor=f"<= {wall:.0f} s for 100 pages",
            met=r["wall_s"] <= wall if p["pages"] == 100 else None),  # the floor is for 100 pages
        row("Peak RSS per fast worker process during that scan", peak / MIB, "MiB",
            "the same processes idle (largest)", max(rss["idle_bytes"].values()) / MIB, command,
            floor=f"<= {mb:.0f} MB", met=peak / 1e6 <= mb),
    ]  # fmt: skip


def ai_speed_rows(r: R, command: str) -> list[Row]:
    ms, base = harness.FLOOR_AI_MS_PER_PAGE, "one regex word scan of the same text"
    return [
        row(f"AI lane, local provider, passes 1-3 ({label})", r[f"{key}ms_per_page"], "ms/page",
            base, r[f"{key}word_scan_ms_per_page"], command, floor=f"<= {ms:.0f} ms/page",
            met=r[f"{key}ms_per_page"] <= ms)
        for label, key in (("corpus pages", ""), ("dense ~3,000-character pages", "dense_"))
    ]  # fmt: skip


def ai_quality_rows(r: R, command: str) -> list[Row]:
    scores, floors, gold = (
        r["corpus"]["entities"],
        r["floors"],
        "gold annotations of the synthetic corpus",
    )
    main = ("medication", "lab_result", "vital_sign")
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
        for kind in main
        if kind in scores
    ]
    others = {k: v["f1"] for k, v in scores.items() if k not in main}
    if others:
        low = min(others, key=lambda k: others[k])
        rows.append(row(f"AI lane F1, other types (lowest: {low})", others[low], "F1", gold, None,
                        command, floor=f">= {floors[low]}",
                        met=all(others[k] >= floors[k] for k in others)))  # fmt: skip
    negation, floor = r["corpus"]["negation_accuracy"], r["negation_floor"]
    rows.append(row("AI lane negation right", negation, "share", gold, None, command,
                    floor=f">= {floor}", met=negation >= floor))  # fmt: skip
    return rows


def e2e_rows(r: R, command: str) -> list[Row]:
    kind, base = (
        r["parameters"]["kind"],
        "the same stages' plain functions in one process, same documents",
    )
    return [
        row(
            f"End to end {pct}, {size}-page {kind} PDF, upload -> completed",
            s[f"{pct}_s"] * 1000,
            "ms",
            base,
            s["baseline_median_s"] * 1000,
            command,
        )
        for size, s in r["sizes"].items()
        for pct in ("p50", "p95")
    ]


def scaling_rows(r: R, command: str) -> list[Row]:
    first, p = r["settings"][0], r["parameters"]
    batch = f"{p['docs']} x {p['pages']}-page {p['kind']} PDFs"
    base = f"same batch, {first['processes_per_lane']} process per lane"
    rows = []
    for s in r["settings"][1:]:
        n = s["processes_per_lane"]
        throughput = s["docs_per_s"], "docs/s", base, first["docs_per_s"], command
        cpu = s["cpu_s_per_doc_total"] * 1000, "ms/doc", base, first["cpu_s_per_doc_total"] * 1000
        rows.append(row(f"Throughput, {n} worker processes per lane ({batch})", *throughput))
        rows.append(row(f"CPU per document, {n} worker processes per lane", *cpu, command))
    return rows


@dataclass(frozen=True)
class Bench:
    name: str  # the module bench/<name>.py, whose run(argv) returns its figures
    quick: tuple[str, ...]
    rows: Callable[[R, str], list[Row]]


QUICK_UPLOAD = "--reps 1 --duration 2 --warmup 1 --no-phases --noisy-retries 0"
BENCHES: tuple[Bench, ...] = tuple(
    Bench(name, tuple(quick.split()), rows)
    for name, quick, rows in (
        ("upload_throughput", QUICK_UPLOAD, upload_rows),
        ("engine_overhead", "--docs 20 --reps 1 --sequential 5 --no-phases", engine_rows),
        ("upload_memory", "--size-mb 20 --uploads 1", memory_rows),
        ("fast_lane", "--pages 3 --reps 1 --scan-pages 1 --noisy-retries 0", fast_lane_rows),
        ("fast_lane_e2e", "--pages 6 --baseline-pages 1 --no-parallel", fast_e2e_rows),
        ("ai_speed", "--rounds 1 --long-pages 10", ai_speed_rows),
        ("ai_quality", "--per-kind 2", ai_quality_rows),
        ("e2e_latency", "--runs 2", e2e_rows),
        ("scaling", "--docs 6 --pages 2", scaling_rows),
    )
)


class BenchFailed(Exception):
    """A benchmark ended without its figures."""


def _child(name: str, argv: list[str], send: Any) -> None:
    """In the child process: run the benchmark, send back ("ok", figures as JSON) or
    ("error", the exception's first line)."""
    harness.install_signal_handlers()
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
    argv = bench.quick if quick else ()
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
        ratio = f"{_number(r.ratio)}x" if r.ratio is not None else "-"
        cells = [_cell(r.figure), value, _cell(baseline) or "-", ratio, _cell(floor) or "-"]
        table_rows.append([*cells, f"`{r.command}`"])
    headers = ["figure", "value", "baseline (same run)", "ratio", "floor", "command"]
    lines.append(harness.markdown_table(headers, table_rows))
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
    return {**meta, "rows": [{k: _plain(v) for k, v in asdict(r).items()} for r in rows]}


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
    parser.add_argument("--out", type=Path, default=harness.RESULTS_DIR, help="results folder")
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
    harness.install_signal_handlers()
    background = harness.background_load()
    started = datetime.now(UTC)
    rows: list[Row] = []
    runs: list[dict[str, Any]] = []
    for bench in benches:
        bench_rows, outcome = measure(bench, args.quick)
        rows += bench_rows
        runs.append(outcome)
    finished = datetime.now(UTC)
    code = harness.code_state()
    meta = {"mode": "quick" if args.quick else "full",
            "started_at": started.isoformat(timespec="seconds"),
            "finished_at": finished.isoformat(timespec="seconds"),
            "machine": harness.machine_info(), "commit": code["head"],
            "uncommitted_changes": code["uncommitted_changes"],
            "busy_percent_before": background["busy_percent"], "benchmarks": runs}  # fmt: skip
    paths = write_tables(rows, meta, args.out, started.strftime("%Y%m%dT%H%M%SZ"))
    print("\n" + render_markdown(rows, meta))
    print("written: " + ", ".join(_shown(p) for p in paths))
    return 1 if any(r["error"] for r in runs) else 0


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(harness.PROJECT_ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
