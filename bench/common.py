"""Plumbing the benchmarks share: a fresh database and Redis db, child processes that are
always torn down, CPU accounting, percentiles, and the markdown/JSON report.

Nothing here measures anything by itself. Every process a benchmark starts goes
through `Processes`, which starts it in its own session (so a Ctrl-C in the
terminal reaches only the benchmark, which then stops its children in order) and
stops it on exit, on error, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:  # `python bench/x.py` puts bench/ first, not the root
    sys.path.insert(0, str(PROJECT_ROOT))

BENCH_DIR = PROJECT_ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
PYTHON = sys.executable
VENV_BIN = Path(sys.executable).parent
PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_ADMIN_DSN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test"
REDIS_HOST = os.environ.get("BENCH_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("BENCH_REDIS_PORT", "6379"))

# Variables of the app that would change what is measured if the caller's shell set them.
_APP_VARIABLES = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "DATA_DIR",
    "BLOB_STORAGE_URL",
    "MAX_UPLOAD_BYTES",
    "BLOB_CHUNK_BYTES",
    "SECRET_KEY",
    "HEARTBEAT_INTERVAL",
    "STALE_AFTER",
    "OUTBOX_GRACE",
    "STAGE_RETRY_BACKOFF",
    "STAGE_MAX_RETRIES",
    "OUTBOX_RELAY_INTERVAL",
    "RECLAIM_INTERVAL",
    "WEB_CONCURRENCY",
    "WEB_THREADS",
    "GUNICORN_CMD_ARGS",
    "FLASK_APP",
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- signals


def install_signal_handlers() -> None:
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt, so `finally` blocks tear children down."""

    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


# --------------------------------------------------------------------------- services


@dataclass
class BenchEnv:
    """A private PostgreSQL database, a private Redis db number and a scratch folder."""

    name: str
    db_name: str
    redis_db: int
    workdir: Path
    keep_database: bool = False

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{self.db_name}"

    @property
    def sqlalchemy_url(self) -> str:
        return f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{self.db_name}"

    @property
    def broker_url(self) -> str:
        return f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.redis_db}"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of every process of this benchmark (and of its own app objects)."""
        env = {k: v for k, v in os.environ.items() if k not in _APP_VARIABLES}
        env.update(
            DATABASE_URL=self.database_url,
            CELERY_BROKER_URL=self.broker_url,
            DATA_DIR=str(self.data_dir),
            BLOB_STORAGE_URL="db",  # what a PostgreSQL deployment uses by default
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def apply_to_this_process(self) -> None:
        """Make `create_app()` and `celeryconfig` in this process see the benchmark's services."""
        for key in _APP_VARIABLES:
            os.environ.pop(key, None)
        os.environ.update(self.env())

    def redis(self) -> Any:
        import redis

        return redis.Redis.from_url(self.broker_url)

    def psql(self) -> Any:
        import psycopg

        return psycopg.connect(self.database_url, autocommit=True)


def check_services() -> None:
    import psycopg
    import redis

    try:
        psycopg.connect(PG_ADMIN_DSN, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        raise SystemExit(
            f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT} as user postgres "
            f"(start it with `bash scripts/services.sh`): {exc}"
        ) from None
    try:
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=3).ping()
    except redis.RedisError as exc:
        raise SystemExit(f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT}: {exc}") from None


def fresh_database(db_name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{db_name}"')


def drop_database(db_name: str) -> None:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    except psycopg.Error as exc:
        log(f"could not drop database {db_name}: {exc}")


@contextmanager
def bench_env(name: str, db_name: str, redis_db: int, *, keep: bool = False) -> Iterator[BenchEnv]:
    """Fresh database (migrated) and flushed Redis db; both cleaned up afterwards."""
    check_services()
    workdir = Path(tempfile.mkdtemp(prefix=f"sfp-{name}-"))
    env = BenchEnv(name, db_name, redis_db, workdir, keep_database=keep)
    env.data_dir.mkdir(parents=True, exist_ok=True)
    log(
        f"database {db_name}: drop/create and migrate; redis db {redis_db}: flush; "
        f"scratch {workdir}"
    )
    fresh_database(db_name)
    from tests.support.services import migrate

    migrate(env.sqlalchemy_url)
    env.redis().flushdb()
    try:
        yield env
    finally:
        try:
            env.redis().flushdb()
        except Exception as exc:  # noqa: BLE001 - cleanup goes on
            log(f"could not flush redis db {redis_db}: {exc}")
        if not keep:
            drop_database(db_name)
        _remove_tree(workdir)


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def flask_cli(env: Mapping[str, str], *args: str) -> dict[str, Any]:
    """Run `flask --app app ARGS…` and return the JSON object it prints."""
    done = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "app", *args],
        env=dict(env),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@dataclass(frozen=True)
class Identity:
    account_id: str
    token: str
    profile_id: str


def create_identity(env: BenchEnv, label: str = "bench") -> Identity:
    """An account with a token and one profile, made through the admin CLI as an operator would."""
    process_env = env.env()
    account = flask_cli(
        process_env,
        "accounts",
        "create",
        "--email",
        f"{label}-{uuid.uuid4().hex[:8]}@bench.invalid",
    )
    profile = flask_cli(
        process_env,
        "profiles",
        "create",
        "--owner",
        account["account_id"],
        "--name",
        f"{label} patient",
        "--type",
        "self",
    )
    return Identity(str(account["account_id"]), str(account["token"]), str(profile["profile_id"]))


# --------------------------------------------------------------------------- processes


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


@dataclass
class Processes:
    """The benchmark's children. Use as a context manager: everything started is stopped."""

    workdir: Path
    children: list[Child] = field(default_factory=list)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop_all()

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> Child:
        log_path = self.workdir / f"{name}.log"
        with log_path.open("wb") as out:
            process = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

    def stop(self, child: Child, *, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if child.alive():
            with suppress(ProcessLookupError):
                os.kill(child.pid, sig)
            try:
                child.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log(f"{child.name} (pid {child.pid}) did not stop in {timeout}s; killing its group")
        # Its own session/group (start_new_session): reap anything it left behind.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=5)
        if child in self.children:
            self.children.remove(child)

    def stop_all(self) -> None:
        for child in reversed(list(self.children)):
            try:
                self.stop(child)
            except Exception as exc:  # noqa: BLE001 - keep going: stop every child
                log(f"stopping {child.name}: {exc}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Any, *, timeout: float, what: str, child: Child | None = None, interval: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if child is not None and not child.alive():
            raise RuntimeError(f"{child.name} exited while waiting for {what}:\n{child.log_tail()}")
        if time.monotonic() > deadline:
            tail = child.log_tail() if child else ""
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}\n{tail}")
        time.sleep(interval)


def http_ok(port: int, path: str) -> bool:
    import http.client

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", path)
        status = conn.getresponse().status
        conn.close()
        return status < 500
    except OSError:
        return False


@dataclass(frozen=True)
class GunicornSettings:
    workers: int
    threads: int
    access_log: bool = True
    # SO_REUSEPORT: each worker listens on its own socket and the kernel spreads new
    # connections over them, instead of whichever worker wakes first taking them all.
    reuse_port: bool = False

    @property
    def label(self) -> str:
        kind = "gthread" if self.threads > 1 else "sync"
        return (
            f"{self.workers}w x {self.threads}t ({kind}{', reuse-port' if self.reuse_port else ''})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "threads": self.threads,
            "access_log": self.access_log,
            "worker_class": "gthread" if self.threads > 1 else "sync",
            "reuse_port": self.reuse_port,
        }


def gunicorn_argv(app_spec: str, port: int, settings: GunicornSettings) -> list[str]:
    """The Procfile's `web` line, on a loopback port, with the given workers/threads."""
    argv = [
        PYTHON,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(settings.workers),
        "--threads",
        str(settings.threads),
        "--worker-tmp-dir",
        "/dev/shm",
    ]
    if settings.reuse_port:
        argv.append("--reuse-port")
    if settings.access_log:
        argv += [
            "--access-logfile",
            "-",
            "--access-logformat",
            '%(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',
        ]
    return [*argv, app_spec]


def start_gunicorn(
    procs: Processes,
    name: str,
    app_spec: str,
    settings: GunicornSettings,
    env: Mapping[str, str],
    probe_path: str,
) -> tuple[Child, int]:
    port = free_port()
    child = procs.start(name, gunicorn_argv(app_spec, port, settings), env)
    wait_until(
        lambda: child.log_text().count("Booting worker") >= settings.workers,
        timeout=60,
        what=f"{name}'s {settings.workers} workers",
        child=child,
    )
    wait_until(lambda: http_ok(port, probe_path), timeout=60, what=f"{name} to answer", child=child)
    return child, port


def worker_pids(master_pid: int) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(master_pid).children(recursive=False)]
    except psutil.NoSuchProcess:
        return []


# --------------------------------------------------------------------------- CPU accounting


def tree_cpu_seconds(pid: int) -> float:
    """User+system CPU of a process and its live descendants."""
    import psutil

    total = 0.0
    try:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    return total


def tree_cpu(pid: int) -> dict[int, float]:
    """User+system CPU per process of a process tree (see `CpuMeter`); key -pid holds the
    CPU of the root's children that already exited and were reaped."""
    import psutil

    found: dict[int, float] = {}
    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        found[-root.pid] = times.children_user + times.children_system
        for proc in [root, *root.children(recursive=True)]:
            try:
                times = proc.cpu_times()
                found[proc.pid] = times.user + times.system
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    return found


def named_cpu(names: Iterable[str]) -> dict[int, float]:
    """User+system CPU per process with one of these names, e.g. every postgres backend.

    For the top process of each such family (the postmaster), key -pid holds the CPU of
    its children that already exited and were reaped: a backend that a connection pool
    opened and closed during the measurement is counted, not lost.
    """
    import psutil

    wanted = set(names)
    found: dict[int, float] = {}
    for proc in psutil.process_iter(["name", "ppid"]):
        try:
            if proc.info["name"] not in wanted:
                continue
            times = proc.cpu_times()
            found[proc.pid] = times.user + times.system
            parent = psutil.Process(proc.info["ppid"]) if proc.info["ppid"] else None
            if parent is None or parent.name() not in wanted:
                found[-proc.pid] = times.children_user + times.children_system
        except psutil.Error:
            pass
    return found


def named_cpu_seconds(names: Iterable[str]) -> float:
    """User+system CPU of every process with one of these names (e.g. the postgres backends)."""
    import psutil

    wanted = set(names)
    total = 0.0
    for proc in psutil.process_iter(["name"]):
        try:
            if proc.info["name"] in wanted:
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def system_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all CPUs, all processes, the kernel)."""
    import psutil

    t = psutil.cpu_times()
    return float(
        t.user
        + t.nice
        + t.system
        + getattr(t, "irq", 0.0)
        + getattr(t, "softirq", 0.0)
        + getattr(t, "steal", 0.0)
    )


class CpuMeter:
    """CPU seconds spent by groups of processes between `start()` and `stop()`, plus
    "other": what the rest of the machine (other processes, kernel threads, the
    benchmark's own bookkeeping) burnt meanwhile - a noise indicator."""

    OTHER = "other (rest of machine)"

    def __init__(self, groups: Mapping[str, Any]) -> None:
        # label -> zero-arg callable returning cumulative CPU seconds, either one number or
        # {pid: seconds}; the latter is counted per process, so a process that exits
        # meanwhile (a PostgreSQL backend closed by the pool) does not subtract its whole
        # life's CPU, and one that starts meanwhile counts from zero.
        self.groups = dict(groups)
        self._start: dict[str, Any] = {}
        self._system = 0.0
        self.seconds: dict[str, float] = {}

    @staticmethod
    def _delta(before: Any, after: Any) -> float:
        if not isinstance(after, dict):
            return float(after - before)
        total = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
        # A process that exited meanwhile shows up in its parent's reaped-children time
        # (key -parent) with its whole life's CPU: take off what it had used before.
        total -= sum(cpu for pid, cpu in before.items() if pid > 0 and pid not in after)
        return float(total)

    def start(self) -> None:
        self._start = {label: read() for label, read in self.groups.items()}
        self._system = system_busy_seconds()

    def stop(self) -> dict[str, float]:
        self.seconds = {
            label: max(0.0, self._delta(self._start[label], read()))
            for label, read in self.groups.items()
        }
        system = system_busy_seconds() - self._system
        self.seconds[self.OTHER] = max(0.0, system - sum(self.seconds.values()))
        return self.seconds


def wait_for_quiet(limit: float, *, threshold: float = 10.0) -> None:
    """Wait up to `limit` seconds until the machine is under `threshold` % busy."""
    import psutil

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        busy = psutil.cpu_percent(interval=1.0)
        if busy < threshold:
            return
        log(f"machine {busy:.0f}% busy; waiting for it to quiet down (--wait-quiet)")
        time.sleep(2.0)


def background_load(seconds: float = 1.0) -> dict[str, Any]:
    """How busy the machine is before the benchmark starts, and who is busy.

    Benchmarks on 2 cores are very sensitive to anything else running (a test suite,
    a build); the figure goes into the results, and a warning is printed above 10 %.
    """
    import psutil

    procs = list(psutil.process_iter(["pid", "name", "cmdline"]))
    for proc in procs:
        with suppress(psutil.Error):
            proc.cpu_percent(None)
    busy = psutil.cpu_percent(interval=seconds)
    top = []
    for proc in procs:
        try:
            pct = proc.cpu_percent(None)
        except psutil.Error:
            continue
        if pct >= 5:
            cmd = " ".join(proc.info.get("cmdline") or [proc.info.get("name") or "?"])
            top.append({"pid": proc.info["pid"], "cpu_percent": pct, "command": cmd[:120]})
    top.sort(key=lambda p: -p["cpu_percent"])
    if busy > 10:
        log(
            f"WARNING: the machine is already {busy:.0f}% busy before the benchmark; the "
            "figures will be noisy. Busiest: "
            + "; ".join(f"{p['cpu_percent']:.0f}% {p['command']}" for p in top[:3])
        )
    return {"busy_percent": busy, "busiest": top[:5]}


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (pct in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def ratio(ours: float, base: float) -> float:
    return ours / base if base else float("nan")


# --------------------------------------------------------------------------- report


def fmt(value: Any, digits: int = 1) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:,.{digits}f}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)) + " |",
        "| " + " | ".join("-" * w for w in widths) + " |",
    ]
    lines += [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells[1:]
    ]
    return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    import psutil

    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def code_state() -> dict[str, Any]:
    """The commit measured, and which files of the app differed from it (the working
    tree is what runs, so a dirty tree is part of what a figure describes)."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except OSError:
            return ""
        return done.stdout.rstrip("\n") if done.returncode == 0 else ""

    changed = [
        line[3:]
        for line in git("status", "--porcelain").splitlines()
        if not line[3:].startswith("bench/")
    ]
    return {"head": git("rev-parse", "HEAD").strip(), "uncommitted_changes": changed}


def write_results(name: str, payload: Mapping[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    body = {
        "benchmark": name,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "code": code_state(),
        **payload,
    }
    path.write_text(json.dumps(body, indent=2, default=str) + "\n")
    return path
