"""The benchmark suite: every figure of the project in one command, in one table."""

from __future__ import annotations

import argparse
import importlib
import json
import math
import multiprocessing
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import harness
from bench.harness import Row, log, number, row

# Each benchmark (the module bench/<name>.py, whose run(argv) returns its figures, the
# headline rows among them) and the options of a quick run.
BENCHES: dict[str, tuple[str, ...]] = {
    name: tuple(quick.split())
    for name, quick in (
        ("upload_throughput", "--reps 1 --duration 2 --warmup 1 --no-phases --noisy-retries 0"),
        ("engine_overhead", "--docs 20 --reps 1 --sequential 5 --no-phases"),
        ("upload_memory", "--size-mb 20 --uploads 1"),
        ("fast_lane", "--pages 3 --reps 1 --scan-pages 1 --noisy-retries 0"),
        ("fast_lane_e2e", "--pages 6 --baseline-pages 1 --no-parallel"),
        ("ai_speed", "--rounds 1 --long-pages 10"),
        ("ai_quality", "--per-kind 2"),
        ("e2e_latency", "--runs 2"),
        ("scaling", "--docs 6 --pages 2"),
        ("search", "--docs 100 --other-profiles 0 --rounds 2"),
    )
}


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


def measure(name: str, quick: bool) -> tuple[list[Row], dict[str, Any]]:
    """The rows of one benchmark (one FAILED row if it failed), and how its run went."""
    argv = BENCHES[name] if quick else ()
    command = " ".join(["python -m bench." + name, *argv])
    log(f"suite: {command}")
    started = time.monotonic()
    try:
        figures = run_isolated(name, argv)
        rows = [Row(**{**r, "command": command}) for r in figures["headline"]]
        error = None
    except (BenchFailed, KeyError, TypeError) as exc:
        error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, BenchFailed) else str(exc)
        rows = [row(f"{name}: FAILED ({error})", None, "", "", None, command)]
    seconds = time.monotonic() - started
    log(f"suite: {name} {'failed' if error else 'done'} in {seconds:.0f} s")
    return rows, {"name": name, "seconds": round(seconds, 1), "error": error}


# --------------------------------------------------------------------------- tables


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
            baseline = f"{baseline}: {number(r.baseline_value)} {r.unit}"
        value = f"{number(r.value)} {r.unit}".strip() if r.value is not None else "-"
        ratio = f"{number(r.ratio)}x" if r.ratio is not None else "-"
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
    names = ", ".join(BENCHES)
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {names}")
    return parser.parse_args(argv)


def selected(only: str) -> list[str]:
    wanted = [n.strip() for n in only.split(",") if n.strip()]
    unknown = set(wanted) - set(BENCHES)
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    return [name for name in BENCHES if not wanted or name in wanted]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    benches = selected(args.only)
    harness.install_signal_handlers()
    background = harness.background_load()
    started = datetime.now(UTC)
    rows: list[Row] = []
    runs: list[dict[str, Any]] = []
    for name in benches:
        bench_rows, outcome = measure(name, args.quick)
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
