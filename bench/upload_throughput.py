"""Upload throughput: 100 KB PDF uploads, 16 concurrent clients (wrk), through gunicorn."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import harness
from bench.harness import CpuMeter, GunicornSettings, fmt, log, median
from bench.upload_phases import Body, bare_database, breakdown, build_body, print_breakdown

LUA_SCRIPT = Path(__file__).with_name("wrk_upload.lua")
DEFAULT_SETTINGS = GunicornSettings(2, 4, reuse_port=True)  # the Procfile's web line
PG_COUNTERS = ("xact_commit", "xact_rollback", "sessions", "tup_inserted", "tup_updated",
               "tup_fetched", "tup_returned")  # fmt: skip


@dataclass
class Server:
    label: str  # "ours" | "bare"
    child: Any
    port: int


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    raise SystemExit(
        "this benchmark drives load with wrk, which is not installed.\n"
        "Install it (Debian/Ubuntu):  sudo apt-get update && sudo apt-get install -y wrk"
    )


def connections_per_worker(server: Server) -> list[int]:
    """How wrk's keep-alive connections are spread over the gunicorn workers right now."""
    import psutil

    counts = []
    for pid in harness.worker_pids(server.child.pid):
        try:
            conns = psutil.Process(pid).net_connections("tcp")
        except psutil.Error:
            continue
        mine = [c for c in conns if c.laddr and c.laddr.port == server.port]
        counts.append(sum(c.status == "ESTABLISHED" for c in mine))
    return sorted(counts, reverse=True)


def run_wrk(
    wrk: str, server: Server, body: Body, token: str, duration: float, connections: int
) -> dict[str, Any]:
    """One wrk run (one client thread, `connections` keep-alive connections): its figures,
    the CPU of every party, and how the connections sat on the workers."""
    runid = f"{(os.getpid() * 97 + time.monotonic_ns()) % 0xFFFFFF:06x}"
    argv = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
            "-s", str(LUA_SCRIPT), f"http://127.0.0.1:{server.port}{harness.UPLOAD_PATH}", "--",
            str(body.pre), str(body.post), runid, f"Bearer {token}", body.content_type,
            harness.UPLOAD_PATH]  # fmt: skip
    meter = CpuMeter(harness.cpu_groups({"server": server.child.pid}))
    spread: list[int] = []
    sampler = threading.Timer(duration / 2, lambda: spread.extend(connections_per_worker(server)))
    meter.start()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sampler.start()
    try:
        out = process.stdout.read() if process.stdout else b""
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        sampler.cancel()
        if process.returncode is None:
            process.kill()
            process.wait()
    cpu = meter.stop()
    sampler.join()
    text = out.decode(errors="replace")
    line = next((ln for ln in text.splitlines() if ln.startswith("BENCHJSON ")), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {process.returncode}):\n{text}")
    client = usage.ru_utime + usage.ru_stime
    cpu["client (wrk)"] = client
    cpu[CpuMeter.OTHER] = max(0.0, cpu.pop(CpuMeter.OTHER) - client)  # last, and without wrk
    figures = json.loads(line.removeprefix("BENCHJSON "))
    seconds, done = figures["duration_us"] / 1e6, max(figures["requests"], 1)
    figures |= {
        f"{k}_ms": figures[f"lat_{k}_us"] / 1000 for k in ("p50", "p90", "p99", "max", "mean")
    }
    figures |= {
        "uploads_per_s": figures["created"] / seconds,
        "cpu_seconds": {k: round(v, 3) for k, v in cpu.items()},
        "cpu_ms_per_request": {k: round(v * 1000 / done, 3) for k, v in cpu.items()},
        "cpu_utilisation": round(sum(cpu.values()) / (meter.wall * (os.cpu_count() or 1)), 3),
        "noise": meter.noise(cpu),
        "errors": sum(v for k, v in figures.items() if k.startswith("err_"))
        + figures["other_status"],
        "connections_per_worker": spread,
    }
    return figures


def pg_counters(db_names: list[str]) -> dict[str, dict[str, int]]:
    """pg_stat_database counters (backends flush them about once a second)."""
    import psycopg

    from tests.support.services import ADMIN_DSN

    query = (
        f"SELECT datname, {', '.join(PG_COUNTERS)} FROM pg_stat_database WHERE datname = ANY(%s)"
    )
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        rows = conn.execute(query, (db_names,)).fetchall()
    return {row[0]: dict(zip(PG_COUNTERS, row[1:], strict=True)) for row in rows}


def repetitions(
    args: Any, servers: list[Server], load: Callable[[Server, float], dict[str, Any]]
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """Alternate ours/bare `args.reps` times (a disturbed pair is measured again); also every
    upload made, kept or not."""
    created = {"ours": 0, "bare": 0}

    def pair(rep: int) -> dict[str, dict[str, Any]]:
        found = {server.label: load(server, args.duration) for server in servers}
        for label, fig in found.items():
            created[label] += fig["created"]
            log(f"rep {rep} {label}: {fig['uploads_per_s']:.0f} uploads/s, "
                f"p50 {fig['p50_ms']:.1f} ms, p99 {fig['p99_ms']:.1f} ms, errors {fig['errors']}, "
                f"cpu {fig['cpu_utilisation']:.0%} (other processes {fig['noise']:.0%}), "
                f"connections per worker {fig['connections_per_worker']}")  # fmt: skip
        return found

    return harness.quiet_rounds(pair, args.reps, args.noisy_retries), created


def measure(
    args: Any, env: harness.BenchEnv, procs: harness.Processes, wrk: str, settings: GunicornSettings
) -> dict[str, Any]:
    bare_url = bare_database(env)
    bare_db = harness.DATABASES["upload_bare"][0]
    identity = harness.create_identity(env, "upload")
    body = build_body(env.workdir, identity.profile_id, args.file_kb * 1000)
    log(f"document: {body.file_size} byte PDF, multipart body {body.size} bytes")
    servers = []
    for label, spec, probe, process_env in (
        ("ours", "app:create_app()", "/api/v1/openapi.json", env.env()),
        ("bare", "bench.bare_app:create_app()", "/healthz", env.env(DATABASE_URL=bare_url)),
    ):
        log(f"starting {label} ({settings.label})")
        child, port = harness.start_gunicorn(procs, label, settings, process_env, spec, probe)
        servers.append(Server(label, child, port))

    def load(server: Server, duration: float) -> dict[str, Any]:
        return run_wrk(wrk, server, body, identity.token, duration, args.connections)

    for server in servers:
        log(f"warm-up {server.label} {args.warmup:.0f}s")
        load(server, args.warmup)
    time.sleep(1.5)  # let the backends flush their pg_stat counters
    before = pg_counters([env.db_name, bare_db])
    runs, created = repetitions(args, servers, load)
    time.sleep(1.5)
    after = pg_counters([env.db_name, bare_db])
    database = {
        label: {
            k: round((after[db][k] - before[db][k]) / max(created[label], 1), 3)
            for k in PG_COUNTERS
        }
        for label, db in (("ours", env.db_name), ("bare", bare_db))
    }
    for server in servers:
        procs.stop(server.child)
    phases: dict[str, Any] = {}
    if not args.no_phases:
        log("per-phase breakdown: sequential uploads in this process")
        phases = breakdown(env, identity.token, bare_url, body)
    with env.psql() as conn:
        stored = conn.execute("SELECT count(*) FROM shell_files").fetchone()[0]
    broker = env.redis()
    queued = sum(broker.llen(k) for k in broker.scan_iter("fast*") if broker.type(k) == b"list")
    return {"body": body, "runs": runs, "stored": stored, "queued": queued,
            "database": database, "phases": phases}  # fmt: skip


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("uploads_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms", "cpu_utilisation")
    summary: dict[str, Any] = {k: median([r[k] for r in runs]) for k in keys}
    summary["errors"] = sum(r["errors"] for r in runs)
    summary["duplicates"] = sum(r["duplicate"] for r in runs)
    parties = runs[0]["cpu_ms_per_request"]
    summary["cpu_ms_per_request"] = {
        p: median([r["cpu_ms_per_request"][p] for r in runs]) for p in parties
    }
    return summary


def print_tables(
    args: Any,
    settings: GunicornSettings,
    outcome: dict[str, Any],
    ours: dict[str, Any],
    bare: dict[str, Any],
) -> None:
    body, database, runs = outcome["body"], outcome["database"], outcome["runs"]
    ms = ("p50_ms", "p90_ms", "p99_ms")
    harness.table(
        f"## Upload throughput: {body.file_size / 1000:.0f} KB PDFs, {args.connections} concurrent"
        f" clients (wrk), gunicorn {settings.label}, access log on; median of {args.reps} x "
        f"{args.duration:.0f} s",
        ["server", "uploads/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors",
         "CPU busy (2 cores)"],
        [[label, fmt(s["uploads_per_s"]), *(fmt(s[k]) for k in (*ms, "max_ms")), s["errors"],
          fmt(100 * s["cpu_utilisation"], 0) + "%"]
         for label, s in (("ours (app:create_app)", ours), ("bare Flask + 1 row", bare))]
        + [["**ratio ours/bare**", *(fmt(harness.ratio(ours[k], bare[k]), 2)
                                     for k in ("uploads_per_s", *ms)), "", "", ""]],
    )  # fmt: skip
    parties = [p for p in ours["cpu_ms_per_request"] if p != CpuMeter.OTHER]
    pg = ("xact_commit", "sessions", "tup_inserted", "tup_updated")
    harness.table(
        "Per upload (median of repetitions): CPU milliseconds by process group, and "
        "PostgreSQL work (pg_stat_database):",
        ["server", *[f"{p} CPU ms" for p in parties], "total CPU ms", "rest of machine CPU ms",
         "commits", "new PG sessions", "rows inserted", "rows updated"],
        [[label, *(fmt(s["cpu_ms_per_request"][p], 2) for p in parties),
          fmt(sum(s["cpu_ms_per_request"][p] for p in parties), 2),
          fmt(s["cpu_ms_per_request"][CpuMeter.OTHER], 2),
          *(fmt(database[label][k], 3) for k in pg)]
         for label, s in (("ours", ours), ("bare", bare))],
    )  # fmt: skip
    harness.table(
        "Repetitions kept (uploads/s; wrk's keep-alive connections per gunicorn worker; "
        "share of the machine used by other processes meanwhile):",
        ["rep", "ours", "ours conns/worker", "ours other", "bare", "bare conns/worker",
         "bare other"],
        [[i + 1, *(c for r in (o, b) for c in (fmt(r["uploads_per_s"]), r["connections_per_worker"],
                                                f"{r['noise']:.0%}"))]
         for i, (o, b) in enumerate(zip(runs["ours"], runs["bare"], strict=True))],
    )  # fmt: skip


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    """Measure with the options `argv` (as on the command line), print the tables, and return
    the figures written to bench/results/upload_throughput.json. Raises SystemExit when wrk,
    PostgreSQL or Redis is missing."""
    parser = harness.parser(__doc__)
    parser.add_argument("--workers", type=int, default=DEFAULT_SETTINGS.workers)
    parser.add_argument("--threads", type=int, default=DEFAULT_SETTINGS.threads)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per repetition")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--file-kb", type=int, default=100)
    parser.add_argument("--no-phases", action="store_true", help="skip bench/upload_phases.py")
    parser.add_argument("--noisy-retries", type=int, default=4, help="redo a disturbed repetition")
    args = parser.parse_args(argv)
    wrk = require_wrk()
    settings = GunicornSettings(args.workers, args.threads, reuse_port=True)
    background = harness.begin(args)
    with harness.bench_env("upload_throughput", keep=args.keep_db) as env:
        try:
            with harness.Processes(env.workdir) as procs:
                outcome = measure(args, env, procs, wrk, settings)
        finally:
            if not args.keep_db:
                harness.drop_database(harness.DATABASES["upload_bare"][0])
    return report(args, settings, outcome, background)


def report(
    args: Any, settings: GunicornSettings, outcome: dict[str, Any], background: dict[str, Any]
) -> dict[str, Any]:
    ours, bare = summarise(outcome["runs"]["ours"]), summarise(outcome["runs"]["bare"])
    throughput_ratio = harness.ratio(ours["uploads_per_s"], bare["uploads_per_s"])
    print_tables(args, settings, outcome, ours, bare)
    load = f"{outcome['body'].file_size / 1000:.0f} KB PDFs, {args.connections} clients"
    base, tput, p99 = "bare Flask + 1 row, same gunicorn", ours["uploads_per_s"], ours["p99_ms"]
    headline = harness.headline([
        harness.row(f"Upload throughput ({load})", tput, "uploads/s", base, bare["uploads_per_s"],
                    floor=f">= {harness.FLOOR_UPLOADS_PER_S:.0f}/s and >= "
                    f"{harness.FLOOR_UPLOAD_RATIO}x bare", met=tput >= harness.FLOOR_UPLOADS_PER_S
                    and throughput_ratio >= harness.FLOOR_UPLOAD_RATIO),
        harness.row(f"Upload latency p50 ({load})", ours["p50_ms"], "ms", base, bare["p50_ms"]),
        harness.row(f"Upload latency p99 ({load})", p99, "ms", base, bare["p99_ms"],
                    floor=f"<= {harness.FLOOR_UPLOAD_P99_MS:.0f} ms",
                    met=p99 <= harness.FLOOR_UPLOAD_P99_MS),
    ])  # fmt: skip
    if outcome["phases"]:
        print_breakdown(outcome["phases"])
    harness.busy_before(background)
    print(f"\n({outcome['stored']} shell files stored; {outcome['queued']} chain messages were "
          "left in Redis and flushed.)")  # fmt: skip
    body = outcome["body"]
    return harness.write_results("upload_throughput", {
        "parameters": {"file_bytes": body.file_size, "body_bytes": body.size,
                       "connections": args.connections, "client": "wrk -t1 + bench/wrk_upload.lua",
                       "duration_s": args.duration, "warmup_s": args.warmup,
                       "repetitions": args.reps, "gunicorn": settings.as_dict()},
        "ours": ours, "bare": bare, "ratio_uploads_per_s": throughput_ratio,
        "postgres_per_upload": outcome["database"], "runs": outcome["runs"],
        "phases": outcome["phases"], "background_load": background, "headline": headline,
    })  # fmt: skip


if __name__ == "__main__":
    harness.main(run)
