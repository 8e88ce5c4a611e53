"""Upload throughput: 100 KB PDF uploads, 16 concurrent clients, against gunicorn.

    .venv/bin/python -m bench.upload_throughput [--workers 2 --threads 8] [--sweep] [--profile]

Ours: `POST /api/v1/shell-files` of the real app (`app:create_app()`): bearer-token
auth, profile access check, libmagic, SHA-256, blob chunks in PostgreSQL, six job
rows, an audit row, commit, then the chain published to Redis. No Celery worker
runs: the messages pile up in the benchmark's Redis db, which is flushed at the end.

Baseline, same run, same gunicorn settings: bench/bare_app.py, a bare Flask
endpoint that takes the same multipart upload and commits one row (with the bytes)
to PostgreSQL. Ratio = ours / bare.

Load: `wrk` (Debian package `wrk`) with bench/wrk_upload.lua, one client thread
holding 16 keep-alive connections, each request's PDF made distinct by a 16-hex
token inside the page text (so the dedupe path, 200 "duplicate", is never taken).
Both servers run side by side; repetitions alternate ours/bare, and the median of
the repetitions is reported. CPU seconds of gunicorn, PostgreSQL, Redis and wrk
itself are measured for each repetition.

`--sweep` first tries several workers x threads settings for ours (one short run
each) and then measures with the best. `--profile` samples the workers with py-spy
(`pip install py-spy`) during one extra run and attributes the time per request to
the phases of an upload.

Floors (informational, never asserted): >= 200 uploads/s, p99 <= 150 ms,
ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.common import GunicornSettings, fmt, log, markdown_table, median

NAME = "upload_throughput"
DB_NAME = "sfp_bench_upload"
BARE_DB_NAME = "sfp_bench_upload_bare"  # its own database, so pg_stat_database tells them apart
REDIS_DB = 9
UPLOAD_PATH = "/api/v1/shell-files"
LUA_SCRIPT = common.BENCH_DIR / "wrk_upload.lua"
TOKEN_LEN = 16
FLOOR_UPLOADS_PER_S = 200.0
FLOOR_P99_MS = 150.0
FLOOR_RATIO = 0.5
# A repetition during which other processes used more of the machine than this is
# measured again (up to --noisy-retries times): a shared 2-core machine is noisy.
NOISE_LIMIT = 0.15
# The Procfile's web line: --workers ${WEB_CONCURRENCY:-2} --threads ${WEB_THREADS:-8}.
PROCFILE_SETTINGS = GunicornSettings(2, 8)
# Chosen by --sweep on the 2-core machine (see bench/README.md); the default run uses it.
DEFAULT_SETTINGS = GunicornSettings(2, 4, reuse_port=True)
SWEEP = (
    GunicornSettings(2, 8),  # the Procfile's web line
    GunicornSettings(2, 8, reuse_port=True),
    GunicornSettings(2, 4, reuse_port=True),
    GunicornSettings(3, 4, reuse_port=True),
    GunicornSettings(4, 2, reuse_port=True),
    GunicornSettings(4, 1),  # sync workers
)


# --------------------------------------------------------------------------- the document


def build_pdf(target_size: int, seed: int = 1) -> tuple[bytes, int]:
    """A valid one-page PDF of about `target_size` bytes, and the offset of a 16-character
    token in its page text that the load generator replaces on every request.

    The bulk is an unreferenced binary stream object of random bytes (like an
    embedded image), so neither PostgreSQL's TOAST compression nor anything else
    gets an unrealistically easy ride. The xref table has exact offsets; the token
    has a fixed width, so replacing it keeps them exact.
    """
    rng = random.Random(seed)
    placeholder = b"0" * TOKEN_LEN
    text_before = b"BT /F1 16 Tf 72 720 Td (Benchmark upload "
    content = (
        text_before
        + placeholder
        + b") Tj ET\nBT /F1 11 Tf 72 696 Td (Lab report: all values within range.) Tj ET\n"
    )
    token_in_content = len(text_before)

    header = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    fixed = len(header) + sum(len(o) + 30 for o in objects) + 400
    padding = rng.randbytes(max(0, target_size - fixed))
    objects.append(b"<< /Length %d >>\nstream\n" % len(padding) + padding + b"\nendstream")

    out = bytearray(header)
    offsets = []
    token_offset = -1
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        prefix = b"%d 0 obj\n" % number
        if number == 4:
            token_offset = len(out) + len(prefix) + body.index(b"stream\n") + 7 + token_in_content
        out += prefix + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref_at,
    )
    assert out[token_offset : token_offset + TOKEN_LEN] == placeholder
    return bytes(out), token_offset


@dataclass(frozen=True)
class Body:
    pre: Path
    post: Path
    content_type: str
    size: int  # of the whole multipart body
    file_size: int


def build_body(workdir: Path, profile_id: str, file_size: int) -> Body:
    pdf, token_offset = build_pdf(file_size)
    boundary = "sfpbench" + uuid.uuid4().hex
    assert boundary.encode() not in pdf
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="patient_id"\r\n\r\n{profile_id}\r\n'
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="lab-report.pdf"\r\n'
        f"Content-Type: application/pdf\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    pre = workdir / "body.pre"
    post = workdir / "body.post"
    pre.write_bytes(head + pdf[:token_offset])
    post.write_bytes(pdf[token_offset + TOKEN_LEN :] + tail)
    (workdir / "sample.pdf").write_bytes(pdf)  # for a look with a PDF reader
    return Body(
        pre,
        post,
        f"multipart/form-data; boundary={boundary}",
        len(head) + len(pdf) + len(tail),
        len(pdf),
    )


# --------------------------------------------------------------------------- load


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    raise SystemExit(
        "this benchmark drives load with wrk, which is not installed.\n"
        "Install it (Debian/Ubuntu):  sudo apt-get update && sudo apt-get install -y wrk"
    )


@dataclass
class Server:
    label: str  # "ours" | "bare"
    child: common.Child
    port: int


_run_ids = iter(range(1, 1 << 30))


def run_wrk(  # noqa: PLR0915
    wrk: str,
    server: Server,
    body: Body,
    token: str,
    *,
    duration: float,
    connections: int,
    threads: int,
    workdir: Path,
) -> dict[str, Any]:
    """One wrk run; returns its figures plus the CPU seconds of every party."""
    run_number = next(_run_ids)
    runid = f"{(os.getpid() * 97 + run_number) % 0xFFFFFF:06x}"
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        f"http://127.0.0.1:{server.port}{UPLOAD_PATH}",
        "--",
        str(body.pre),
        str(body.post),
        runid,
        f"Bearer {token}",
        body.content_type,
        UPLOAD_PATH,
    ]
    meter = common.CpuMeter(
        {
            "server": lambda: common.tree_cpu(server.child.pid),
            "postgres": lambda: common.named_cpu(["postgres"]),
            "redis": lambda: common.named_cpu(["redis-server"]),
        }
    )
    out_path = workdir / f"wrk-{run_number}.out"
    workers = common.worker_pids(server.child.pid)
    worker_cpu_before = [common.tree_cpu_seconds(pid) for pid in workers]
    spread: list[int] = []
    sampler = threading.Timer(duration / 2, lambda: spread.extend(connections_per_worker(server)))
    meter.start()
    started = time.monotonic()
    with out_path.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        sampler.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
        finally:
            sampler.cancel()
            if process.returncode is None:
                process.kill()
                process.wait()
    wall = time.monotonic() - started
    cpu = meter.stop()
    worker_busy = sorted(
        (
            (common.tree_cpu_seconds(pid) - before) / wall
            for pid, before in zip(workers, worker_cpu_before, strict=True)
        ),
        reverse=True,
    )
    sampler.join()
    client_cpu = usage.ru_utime + usage.ru_stime
    cpu[common.CpuMeter.OTHER] = max(0.0, cpu[common.CpuMeter.OTHER] - client_cpu)
    cpu = {
        **{k: v for k, v in cpu.items() if k != common.CpuMeter.OTHER},
        "client (wrk)": client_cpu,
        common.CpuMeter.OTHER: cpu[common.CpuMeter.OTHER],
    }
    text = out_path.read_text(errors="replace")
    line = next((ln for ln in text.splitlines() if ln.startswith("BENCHJSON ")), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {process.returncode}):\n{text}")
    figures = json.loads(line.removeprefix("BENCHJSON "))
    seconds = figures["duration_us"] / 1e6
    figures["uploads_per_s"] = figures["created"] / seconds
    figures["requests_per_s"] = figures["requests"] / seconds
    figures["p50_ms"] = figures["lat_p50_us"] / 1000
    figures["p90_ms"] = figures["lat_p90_us"] / 1000
    figures["p99_ms"] = figures["lat_p99_us"] / 1000
    figures["max_ms"] = figures["lat_max_us"] / 1000
    figures["mean_ms"] = figures["lat_mean_us"] / 1000
    figures["cpu_seconds"] = {k: round(v, 3) for k, v in cpu.items()}
    done = max(figures["requests"], 1)
    figures["cpu_ms_per_request"] = {k: round(v * 1000 / done, 3) for k, v in cpu.items()}
    figures["cpu_utilisation"] = round(sum(cpu.values()) / (wall * (os.cpu_count() or 1)), 3)
    # Share of the machine used by processes outside the benchmark: a noise indicator.
    figures["noise"] = round(cpu[common.CpuMeter.OTHER] / (wall * (os.cpu_count() or 1)), 3)
    errors = sum(figures[k] for k in figures if k.startswith("err_")) + figures["other_status"]
    figures["errors"] = errors
    figures["connections_per_worker"] = sorted(spread, reverse=True)
    figures["worker_cpu_busy"] = [round(b, 2) for b in worker_busy]
    return figures


def connections_per_worker(server: Server) -> list[int]:
    """How wrk's keep-alive connections are spread over the gunicorn workers right now."""
    import psutil

    counts = []
    for pid in common.worker_pids(server.child.pid):
        try:
            conns = psutil.Process(pid).net_connections("tcp")
        except psutil.Error:
            continue
        counts.append(
            sum(
                1
                for c in conns
                if c.laddr and c.laddr.port == server.port and c.status == "ESTABLISHED"
            )
        )
    return counts


def start_servers(
    procs: common.Processes, env: common.BenchEnv, settings: GunicornSettings, *, with_bare: bool
) -> list[Server]:
    servers = []
    log(f"starting ours ({settings.label})")
    child, port = common.start_gunicorn(
        procs,
        f"ours-{settings.workers}x{settings.threads}",
        "app:create_app()",
        settings,
        env.env(),
        "/api/v1/openapi.json",
    )
    servers.append(Server("ours", child, port))
    if with_bare:
        log(f"starting bare ({settings.label})")
        child, port = common.start_gunicorn(
            procs,
            f"bare-{settings.workers}x{settings.threads}",
            "bench.bare_app:create_app()",
            settings,
            env.env(
                DATABASE_URL=common.BenchEnv(
                    "bare", BARE_DB_NAME, REDIS_DB, env.workdir
                ).database_url
            ),
            "/healthz",
        )
        servers.append(Server("bare", child, port))
    return servers


PG_COUNTERS = (
    "xact_commit",
    "xact_rollback",
    "sessions",
    "tup_inserted",
    "tup_updated",
    "tup_fetched",
    "tup_returned",
)


def pg_counters(db_names: list[str]) -> dict[str, dict[str, int]]:
    """pg_stat_database counters (backends flush them about once a second)."""
    import psycopg

    with psycopg.connect(common.PG_ADMIN_DSN, autocommit=True) as conn:
        rows = conn.execute(
            f"SELECT datname, {', '.join(PG_COUNTERS)} FROM pg_stat_database"
            " WHERE datname = ANY(%s)",
            (db_names,),
        ).fetchall()
    return {row[0]: dict(zip(PG_COUNTERS, row[1:], strict=True)) for row in rows}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("uploads_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms", "cpu_utilisation")
    summary: dict[str, Any] = {k: median([r[k] for r in runs]) for k in keys}
    summary["errors"] = sum(r["errors"] for r in runs)
    summary["duplicates"] = sum(r["duplicate"] for r in runs)
    parties = runs[0]["cpu_ms_per_request"].keys()
    summary["cpu_ms_per_request"] = {
        p: median([r["cpu_ms_per_request"][p] for r in runs]) for p in parties
    }
    return summary


# --------------------------------------------------------------------------- profiling


PHASES = (
    # (label, file suffix, function, text of the statement or None); innermost frame wins
    ("multipart parsing (werkzeug)", "werkzeug/formparser.py", None, None),
    ("multipart parsing (werkzeug)", "werkzeug/sansio/multipart.py", None, None),
    ("auth query (bearer token)", "app/auth.py", "authenticate", None),
    ("profile access query", "app/auth.py", "accessible_profile", None),
    ("profile access query", "app/auth.py", "accessible_profile_archived", None),
    ("libmagic sniff", "app/filetypes.py", "sniff_mime", None),
    (
        "sha256 + size (read spooled file)",
        "app/uploads.py",
        "accept_upload",
        "for chunk in _chunks(stream, chunk_bytes)",
    ),
    ("dedupe query (same sha256?)", "app/uploads.py", "_earlier_answer", None),
    ("blob chunk INSERT", "app/storage.py", "put", None),
    ("job rows (enqueue_pipeline)", "app/jobs.py", "enqueue_pipeline", None),
    (
        "one statement: shell file, jobs, audit, bytes",
        "app/uploads.py",
        "_store_new_document",
        None,
    ),
    ("audit row (log_audit_event)", "app/audit.py", "log_audit_event", None),
    ("COMMIT (upload transaction)", "app/uploads.py", "accept_upload", "session.commit()"),
    ("other accept_upload", "app/uploads.py", "accept_upload", None),
    (
        "publish_after_commit (rest: mark published)",
        "app/dispatch.py",
        "publish_after_commit",
        None,
    ),
    ("mark published (background batch)", "app/dispatch.py", "flush_marks", None),
    ("publish chain to Redis", "app/dispatch.py", "publish", None),
    ("broker epoch lookup (Redis INFO)", "app/dispatch.py", "epoch", None),
    ("response (jsonify, url_for)", "app/api/shell_files.py", "_upload_response", None),
    ("other upload view", "app/api/shell_files.py", "upload_shell_file", None),
    ("request teardown (session close)", "app/db.py", "close_request_session", None),
    ("request id hooks", "app/__init__.py", None, None),
)


def _statement_lines(path: Path, func: str, source: str) -> frozenset[int]:
    """The lines of the smallest statement of `func` in `path` whose text contains `source`
    (found with `ast`, so reformatting the code does not break the attribution)."""
    import ast

    text = path.read_text()
    tree = ast.parse(text)
    best: ast.stmt | None = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == func:
            for stmt in ast.walk(node):
                if not isinstance(stmt, ast.stmt) or stmt is node:
                    continue
                segment = ast.get_source_segment(text, stmt) or ""
                if source in segment and (
                    best is None
                    or (stmt.end_lineno or 0) - stmt.lineno < (best.end_lineno or 0) - best.lineno
                ):
                    best = stmt
    if best is None:
        return frozenset()
    return frozenset(range(best.lineno, (best.end_lineno or best.lineno) + 1))


def _phase_lines() -> list[tuple[str, str, str | None, frozenset[int] | None]]:
    """PHASES with each source text resolved to the line numbers of its statement."""
    resolved = []
    for label, suffix, func, source in PHASES:
        lines = None
        if source is not None and func is not None:
            lines = _statement_lines(common.PROJECT_ROOT / suffix, func, source)
            if not lines:
                continue  # the code moved on; that phase folds into its function's residual
        resolved.append((label, suffix, func, lines))
    return resolved


def classify(  # noqa: PLR0911 - a decision table reads best as early returns
    stack: list[str], phases: list[tuple[str, str, str | None, frozenset[int] | None]]
) -> str:
    """The phase of one sampled stack (frames root first, `func (file:line)`)."""
    for frame in reversed(stack):
        func, _, where = frame.rpartition(" (")
        file, _, line_text = where.rstrip(")").rpartition(":")
        for label, suffix, want_func, want_line in phases:
            if not file.endswith(suffix):
                continue
            if want_func is not None and func != want_func and not func.endswith("." + want_func):
                continue
            if want_line is not None and (
                not line_text.isdigit() or int(line_text) not in want_line
            ):
                continue
            return label
    joined = ";".join(stack)
    if "concurrent/futures/thread.py" in joined and "handle" not in joined:
        return "(idle thread-pool thread)"
    if (
        "handle_request" not in joined
        and stack
        and stack[-1].startswith(
            (
                "wait (threading.py",
                "Condition.wait (threading.py",
                "Event.wait (threading.py",
                "_wait_for_tstate_lock",
                "EpollSelector.select",
                "select (",
            )
        )
    ):
        return "(idle background thread)"
    if (
        "gunicorn/workers/gthread.py" in joined
        and ("run (" in stack[-1] or "wait_for_and_dispatch" in joined)
        and "handle" not in joined
    ):
        return "(gunicorn event loop)"
    if "flask/app.py" in joined:
        return "other flask/werkzeug in request"
    if "gunicorn/" in joined:
        return "gunicorn (HTTP read/parse/write)"
    return "other"


def profile(
    server: Server,
    wrk: str,
    body: Body,
    token: str,
    *,
    duration: float,
    connections: int,
    workdir: Path,
) -> dict[str, Any]:
    """Sample every worker with py-spy during a wrk run, once as wall clock (--idle) and
    once as GIL holder (--gil); attribute the samples per request to upload phases."""
    py_spy = shutil.which("py-spy") or str(common.VENV_BIN / "py-spy")
    if not Path(py_spy).exists():
        log("py-spy is not installed (.venv/bin/pip install py-spy); skipping --profile")
        return {}
    phases = _phase_lines()
    rate = 100
    result: dict[str, Any] = {"rate_hz": rate}
    for mode, flag in (("wall", "--idle"), ("gil", "--gil")):
        pids = common.worker_pids(server.child.pid)
        spies = []
        for pid in pids:
            out = workdir / f"pyspy-{mode}-{pid}.txt"
            argv = [
                py_spy,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(int(duration) + 1),
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--output",
                str(out),
                "--nonblocking",
                flag,
            ]
            spies.append(
                (
                    out,
                    subprocess.Popen(
                        argv,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                    ),
                )
            )
        time.sleep(0.5)
        figures = run_wrk(
            wrk,
            server,
            body,
            token,
            duration=duration,
            connections=connections,
            threads=1,
            workdir=workdir,
        )
        counts: dict[str, int] = {}
        for out, spy in spies:
            _, err = spy.communicate(timeout=60)
            if not out.exists():
                log(f"py-spy produced nothing: {err.decode(errors='replace')[-500:]}")
                continue
            for raw in out.read_text(errors="replace").splitlines():
                stack_text, _, count = raw.rpartition(" ")
                if not count.isdigit():
                    continue
                stack = stack_text.split(";")
                label = classify(stack, phases)
                counts[label] = counts.get(label, 0) + int(count)
        requests = max(figures["requests"], 1)
        per_request = {k: v / rate * 1000 / requests for k, v in counts.items()}
        result[mode] = {
            "requests": figures["requests"],
            "uploads_per_s_under_profiler": figures["uploads_per_s"],
            "ms_per_request": dict(sorted(per_request.items(), key=lambda kv: -kv[1])),
        }
    return result


def print_profile(prof: dict[str, Any]) -> None:
    if not prof:
        return
    wall = prof["wall"]["ms_per_request"]
    gil = prof["gil"]["ms_per_request"]
    labels = [k for k in wall if not k.startswith("(")] + [
        k for k in gil if k not in wall and not k.startswith("(")
    ]
    rows = []
    total_wall = sum(wall.get(k, 0) for k in labels)
    total_gil = sum(gil.get(k, 0) for k in labels)
    for label in labels:
        w, g = wall.get(label, 0.0), gil.get(label, 0.0)
        rows.append(
            [
                label,
                fmt(w, 2),
                fmt(100 * w / total_wall if total_wall else 0, 1),
                fmt(g, 2),
                fmt(100 * g / total_gil if total_gil else 0, 1),
            ]
        )
    rows.append(
        ["**total (request threads)**", fmt(total_wall, 2), "100.0", fmt(total_gil, 2), "100.0"]
    )
    print("\n### Where an upload's time goes (py-spy, per request)\n")
    print(
        "wall = samples of request-handling threads incl. waiting on PostgreSQL/Redis/GIL "
        "(--idle); GIL = samples of the thread holding the GIL (--gil), i.e. Python CPU. "
        f"Under the profiler: {fmt(prof['wall']['uploads_per_s_under_profiler'])} / "
        f"{fmt(prof['gil']['uploads_per_s_under_profiler'])} uploads/s.\n"
    )
    print(markdown_table(["phase", "wall ms/req", "wall %", "GIL ms/req", "GIL %"], rows))


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--reuse-port",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="gunicorn --reuse-port (default: as DEFAULT_SETTINGS)",
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per repetition")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--file-kb", type=int, default=100)
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="try several workers x threads for ours first; measure with the best",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the workers (one extra run)")
    parser.add_argument(
        "--no-access-log",
        action="store_true",
        help="drop the Procfile's access log (on by default, as in production)",
    )
    parser.add_argument(
        "--no-phases",
        action="store_true",
        help="skip the in-process per-phase breakdown (bench/upload_phases.py)",
    )
    parser.add_argument(
        "--sweep-rounds", type=int, default=3, help="interleaved 4 s runs per sweep setting"
    )
    parser.add_argument(
        "--noisy-retries",
        type=int,
        default=4,
        help="repeat a repetition disturbed by other processes up to this many times",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to this long for the machine to be under 10%% busy",
    )
    parser.add_argument("--keep-db", action="store_true")
    return parser.parse_args(argv)


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    """Measure with the options `argv` (as on the command line), print the tables, and
    return the figures written to bench/results/upload_throughput.json. Raises
    SystemExit when wrk, PostgreSQL or Redis is missing."""
    args = parse_args(argv)
    wrk = require_wrk()
    access_log = not args.no_access_log
    settings = GunicornSettings(
        args.workers or DEFAULT_SETTINGS.workers,
        args.threads or DEFAULT_SETTINGS.threads,
        access_log,
        DEFAULT_SETTINGS.reuse_port if args.reuse_port is None else args.reuse_port,
    )

    common.wait_for_quiet(args.wait_quiet)
    background = common.background_load()
    with (
        common.bench_env(NAME, DB_NAME, REDIS_DB, keep=args.keep_db) as env,
        common.Processes(env.workdir) as procs,
    ):
        try:
            common.fresh_database(BARE_DB_NAME)
            outcome = measure(args, env, procs, wrk, settings, access_log)
            outcome["background"] = background
        finally:
            procs.stop_all()
            if not args.keep_db:
                common.drop_database(BARE_DB_NAME)
    return report(args, **outcome)


def main() -> None:
    common.install_signal_handlers()
    run(sys.argv[1:])


def measure_repetitions(
    args: Any, servers: list[Server], load: Any
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """Alternate ours/bare `args.reps` times; a pair disturbed by other processes is
    measured again (up to `args.noisy_retries` times)."""
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "bare": []}
    created = {"ours": 0, "bare": 0}  # every upload, kept repetition or not (for pg_stat)
    retries_left = args.noisy_retries
    rep = 0
    while rep < args.reps:
        pair = {}
        for server in servers:
            fig = load(server, args.duration)
            pair[server.label] = fig
            created[server.label] += fig["created"]
            log(
                f"rep {rep + 1} {server.label}: {fig['uploads_per_s']:.0f} uploads/s, "
                f"p50 {fig['p50_ms']:.1f} ms, p99 {fig['p99_ms']:.1f} ms, errors {fig['errors']}, "
                f"cpu {fig['cpu_utilisation']:.0%} (other processes {fig['noise']:.0%}), "
                f"connections per worker {fig['connections_per_worker']}"
            )
        noise = max(f["noise"] for f in pair.values())
        if noise > NOISE_LIMIT and retries_left > 0:
            retries_left -= 1
            log(f"rep {rep + 1} discarded: other processes used {noise:.0%} of the machine")
            continue
        for label, fig in pair.items():
            runs[label].append(fig)
        rep += 1
    return runs, created


def sweep(
    args: Any, env: common.BenchEnv, procs: common.Processes, load: Any, access_log: bool
) -> list[dict[str, Any]]:
    """Every SWEEP setting (ours only) up at once on its own port, measured in interleaved
    rounds, so a slow patch of the machine hits them all alike."""
    candidates = [GunicornSettings(s.workers, s.threads, access_log, s.reuse_port) for s in SWEEP]
    servers = []
    for candidate in candidates:
        (server,) = start_servers(procs, env, candidate, with_bare=False)
        servers.append(server)
        load(server, 2)
    figs: list[list[dict[str, Any]]] = [[] for _ in candidates]
    for round_number in range(args.sweep_rounds):
        for index, server in enumerate(servers):
            fig = load(server, 4)
            figs[index].append(fig)
            log(
                f"sweep round {round_number + 1} {candidates[index].label}: "
                f"{fig['uploads_per_s']:.0f} uploads/s, p99 {fig['p99_ms']:.0f} ms, "
                f"connections per worker {fig['connections_per_worker']}, other processes "
                f"{fig['noise']:.0%}"
            )
    for server in servers:
        procs.stop(server.child)
    return [
        {
            "settings": candidate.as_dict(),
            "label": candidate.label,
            "uploads_per_s": median([f["uploads_per_s"] for f in runs]),
            "p50_ms": median([f["p50_ms"] for f in runs]),
            "p99_ms": median([f["p99_ms"] for f in runs]),
            "errors": sum(f["errors"] for f in runs),
            "connections_per_worker": [f["connections_per_worker"] for f in runs],
            "noise": max(f["noise"] for f in runs),
        }
        for candidate, runs in zip(candidates, figs, strict=True)
    ]


def measure(
    args: Any,
    env: common.BenchEnv,
    procs: common.Processes,
    wrk: str,
    settings: GunicornSettings,
    access_log: bool,
) -> dict[str, Any]:
    import psycopg

    from bench.bare_app import TABLE_DDL

    with psycopg.connect(env.database_url.replace(DB_NAME, BARE_DB_NAME), autocommit=True) as conn:
        conn.execute(TABLE_DDL)
    identity = common.create_identity(env, "upload")
    body = build_body(env.workdir, identity.profile_id, args.file_kb * 1000)
    log(f"document: {body.file_size} byte PDF, multipart body {body.size} bytes")

    def load(server: Server, duration: float) -> dict[str, Any]:
        return run_wrk(
            wrk,
            server,
            body,
            identity.token,
            duration=duration,
            connections=args.connections,
            threads=1,
            workdir=env.workdir,
        )

    sweep_rows: list[dict[str, Any]] = []
    if args.sweep:
        sweep_rows = sweep(args, env, procs, load, access_log)
        best = max(sweep_rows, key=lambda r: r["uploads_per_s"] if r["errors"] == 0 else 0)
        if args.workers is None and args.threads is None:
            settings = GunicornSettings(
                best["settings"]["workers"],
                best["settings"]["threads"],
                access_log,
                best["settings"]["reuse_port"],
            )

    servers = start_servers(procs, env, settings, with_bare=True)
    for server in servers:
        log(f"warm-up {server.label} {args.warmup:.0f}s")
        load(server, args.warmup)
    time.sleep(1.5)  # let the backends flush their pg_stat counters
    counters_before = pg_counters([DB_NAME, BARE_DB_NAME])
    runs, created = measure_repetitions(args, servers, load)
    time.sleep(1.5)
    counters_after = pg_counters([DB_NAME, BARE_DB_NAME])
    database: dict[str, dict[str, float]] = {}
    for label, db_name in (("ours", DB_NAME), ("bare", BARE_DB_NAME)):
        uploads = max(created[label], 1)
        database[label] = {
            key: round((counters_after[db_name][key] - counters_before[db_name][key]) / uploads, 3)
            for key in PG_COUNTERS
        }
    prof: dict[str, Any] = {}
    if args.profile:
        log("profiling ours with py-spy")
        prof = profile(
            servers[0],
            wrk,
            body,
            identity.token,
            duration=args.duration,
            connections=args.connections,
            workdir=env.workdir,
        )
    for server in servers:
        procs.stop(server.child)
    phases: dict[str, Any] = {}
    if not args.no_phases:
        from bench.upload_phases import breakdown

        log("per-phase breakdown: sequential uploads in this process")
        phases = breakdown(
            env,
            identity.token,
            env.database_url.replace(DB_NAME, BARE_DB_NAME),
            body.pre.read_bytes(),
            body.post.read_bytes(),
            body.content_type,
        )
    with env.psql() as conn:
        stored = conn.execute("SELECT count(*) FROM shell_files").fetchone()[0]
    broker = env.redis()
    queued = sum(
        broker.llen(key) for key in broker.scan_iter("fast*") if broker.type(key) == b"list"
    )
    return {
        "settings": settings,
        "body": body,
        "runs": runs,
        "sweep_rows": sweep_rows,
        "prof": prof,
        "stored": stored,
        "queued": queued,
        "database": database,
        "phases": phases,
    }


def report(
    args: Any,
    *,
    settings: GunicornSettings,
    body: Body,
    runs: dict[str, list[dict[str, Any]]],
    sweep_rows: list[dict[str, Any]],
    prof: dict[str, Any],
    stored: int,
    queued: int,
    database: dict[str, dict[str, float]],
    phases: dict[str, Any],
    background: dict[str, Any],
) -> dict[str, Any]:
    ours, bare = summarise(runs["ours"]), summarise(runs["bare"])
    throughput_ratio = common.ratio(ours["uploads_per_s"], bare["uploads_per_s"])
    print(
        f"\n## Upload throughput: {body.file_size / 1000:.0f} KB PDFs, {args.connections} "
        f"concurrent clients (wrk), gunicorn {settings.label}, access log "
        f"{'on' if settings.access_log else 'off'}; median of {args.reps} x {args.duration:.0f} s\n"
    )
    rows = []
    for label, s in (("ours (app:create_app)", ours), ("bare Flask + 1 row", bare)):
        rows.append(
            [
                label,
                fmt(s["uploads_per_s"]),
                fmt(s["p50_ms"]),
                fmt(s["p90_ms"]),
                fmt(s["p99_ms"]),
                fmt(s["max_ms"]),
                str(s["errors"]),
                fmt(100 * s["cpu_utilisation"], 0) + "%",
            ]
        )
    rows.append(
        [
            "**ratio ours/bare**",
            fmt(throughput_ratio, 2),
            fmt(common.ratio(ours["p50_ms"], bare["p50_ms"]), 2),
            fmt(common.ratio(ours["p90_ms"], bare["p90_ms"]), 2),
            fmt(common.ratio(ours["p99_ms"], bare["p99_ms"]), 2),
            "",
            "",
            "",
        ]
    )
    print(
        markdown_table(
            [
                "server",
                "uploads/s",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "max ms",
                "errors",
                "CPU busy (2 cores)",
            ],
            rows,
        )
    )

    print(
        "\nPer upload (median of repetitions): CPU milliseconds by process group, and "
        "PostgreSQL work (pg_stat_database):\n"
    )
    other = common.CpuMeter.OTHER
    parties = [p for p in ours["cpu_ms_per_request"] if p != other]
    cpu_rows = [
        [
            label,
            *[fmt(s["cpu_ms_per_request"][p], 2) for p in parties],
            fmt(sum(s["cpu_ms_per_request"][p] for p in parties), 2),
            fmt(s["cpu_ms_per_request"][other], 2),
            fmt(database[label]["xact_commit"], 2),
            fmt(database[label]["sessions"], 3),
            fmt(database[label]["tup_inserted"], 1),
            fmt(database[label]["tup_updated"], 1),
        ]
        for label, s in (("ours", ours), ("bare", bare))
    ]
    print(
        markdown_table(
            [
                "server",
                *[f"{p} CPU ms" for p in parties],
                "total CPU ms",
                "rest of machine CPU ms",
                "commits",
                "new PG sessions",
                "rows inserted",
                "rows updated",
            ],
            cpu_rows,
        )
    )

    print(
        "\nRepetitions kept (uploads/s; wrk's keep-alive connections per gunicorn worker; "
        "share of the machine used by other processes meanwhile):\n"
    )
    print(
        markdown_table(
            [
                "rep",
                "ours",
                "ours conns/worker",
                "ours other",
                "bare",
                "bare conns/worker",
                "bare other",
            ],
            [
                [
                    str(i + 1),
                    fmt(o["uploads_per_s"]),
                    str(o["connections_per_worker"]),
                    fmt(100 * o.get("noise", 0.0), 0) + "%",
                    fmt(b["uploads_per_s"]),
                    str(b["connections_per_worker"]),
                    fmt(100 * b.get("noise", 0.0), 0) + "%",
                ]
                for i, (o, b) in enumerate(zip(runs["ours"], runs["bare"], strict=True))
            ],
        )
    )

    if sweep_rows:
        print(
            f"\nGunicorn sweep (ours only, all settings up at once, median of "
            f"{args.sweep_rounds} interleaved 4 s runs each):\n"
        )
        print(
            markdown_table(
                ["workers x threads", "uploads/s", "p50 ms", "p99 ms", "errors", "conns/worker"],
                [
                    [
                        r["label"],
                        fmt(r["uploads_per_s"]),
                        fmt(r["p50_ms"]),
                        fmt(r["p99_ms"]),
                        str(r["errors"]),
                        " ".join(str(c) for c in r["connections_per_worker"]),
                    ]
                    for r in sweep_rows
                ],
            )
        )

    floors = [
        (
            "uploads/s >= 200",
            ours["uploads_per_s"] >= FLOOR_UPLOADS_PER_S,
            fmt(ours["uploads_per_s"]),
        ),
        ("p99 <= 150 ms", ours["p99_ms"] <= FLOOR_P99_MS, fmt(ours["p99_ms"])),
        ("ratio >= 0.5", throughput_ratio >= FLOOR_RATIO, fmt(throughput_ratio, 2)),
    ]
    print("\nFloors (informational):\n")
    print(
        markdown_table(
            ["floor", "measured", "met"], [[f, v, "yes" if ok else "NO"] for f, ok, v in floors]
        )
    )
    print_profile(prof)
    if phases:
        from bench.upload_phases import print_breakdown

        print_breakdown(phases)
    print(
        f"\nMachine busy before the benchmark started: {background['busy_percent']:.0f}% "
        "(anything well above 0 makes these figures noisy)."
    )
    print(
        f"\n({stored} shell files stored; {queued} chain messages were left in Redis and flushed.)"
    )

    payload: dict[str, Any] = {
        "parameters": {
            "file_bytes": body.file_size,
            "body_bytes": body.size,
            "connections": args.connections,
            "client": "wrk -t1 + bench/wrk_upload.lua",
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "repetitions": args.reps,
            "gunicorn": settings.as_dict(),
        },
        "ours": ours,
        "bare": bare,
        "ratio_uploads_per_s": throughput_ratio,
        "postgres_per_upload": database,
        "runs": runs,
        "sweep": sweep_rows,
        "profile": prof,
        "phases": phases,
        "background_load": background,
        "floors": {f: {"met": ok, "measured": v} for f, ok, v in floors},
    }
    path = common.write_results(NAME, payload)
    print(f"\nresults: {path.relative_to(common.PROJECT_ROOT)}")
    return payload


if __name__ == "__main__":
    main()
