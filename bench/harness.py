"""The benchmarks' shared harness: services, child processes, CPU and memory meters,
statistics, tables and results. Nothing here measures anything by itself. See bench/README.md.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # tests.support imports the app: only where a benchmark needs services
    from tests.support.workers import WorkerProcess

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
PYTHON = sys.executable
VENV_BIN = Path(sys.executable).parent
MIB = 1024 * 1024
NOISE_LIMIT = 0.15  # a measurement with more of the machine used elsewhere is noisy
UPLOAD_PATH = "/api/v1/shell-files"

# Each benchmark's own PostgreSQL database and Redis db number.
DATABASES = {
    "upload_throughput": ("sfp_bench_upload", 9),
    "upload_bare": ("sfp_bench_upload_bare", 9),
    "engine_overhead": ("sfp_bench_engine", 10),
    "upload_memory": ("sfp_bench_memory", 11),
    "fast_lane_e2e": ("sfp_bench_fast_e2e", 12),
    "e2e_latency": ("sfp_bench_e2e", 13),
    "scaling": ("sfp_bench_scaling", 14),
    "chaos": ("sfp_bench_chaos", 14),
    "search": ("sfp_bench_search", 15),
    "health_record": ("sfp_bench_record", 15),
}

# The informational floors (never asserted), printed as met yes/NO.
FLOOR_UPLOADS_PER_S, FLOOR_UPLOAD_P99_MS, FLOOR_UPLOAD_RATIO = 200.0, 150.0, 0.5
FLOOR_ENGINE_RATIO, FLOOR_ENGINE_ADDED_P50_MS = 0.5, 30.0
FLOOR_MEMORY_GROWTH = 0.5  # (peak - idle) / file size
FLOOR_BORN_DIGITAL_MS, FLOOR_SCAN_S_PER_PAGE = 50.0, 1.5
FLOOR_FAST_E2E_WALL_S, FLOOR_FAST_E2E_RSS_MB = 90.0, 400.0
FLOOR_AI_MS_PER_PAGE = 200.0

# Variables of the app that would change what is measured if the caller's shell set them.
APP_VARIABLES = (
    "DATABASE_URL", "CELERY_BROKER_URL", "DATA_DIR", "BLOB_STORAGE_URL", "MAX_UPLOAD_BYTES",
    "BLOB_CHUNK_BYTES", "SECRET_KEY", "HEARTBEAT_INTERVAL", "STALE_AFTER", "OUTBOX_GRACE",
    "STAGE_RETRY_BACKOFF", "STAGE_MAX_RETRIES", "OUTBOX_RELAY_INTERVAL", "RECLAIM_INTERVAL",
    "WEB_CONCURRENCY", "WEB_THREADS", "GUNICORN_CMD_ARGS", "FLASK_APP", "OCR_BATCH_PAGES",
    "UPLOAD_RATE_LIMIT", "REPROCESS_RATE_LIMIT",
    "MIGRATIONS_DATABASE_URL", "AUDIT_HMAC_KEY",
)  # fmt: skip


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def install_signal_handlers() -> None:
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt, so `finally` blocks tear children down."""

    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


def main(run: Callable[[Sequence[str]], dict[str, Any]], ok: str | None = None) -> None:
    """A script's entry point: run it on the command line; exit 1 if `payload[ok]` is false."""
    install_signal_handlers()
    payload = run(sys.argv[1:])
    if ok is not None:
        sys.exit(0 if payload[ok] else 1)


# --------------------------------------------------------------------------- options


def parser(doc: str | None, *, services_used: bool = True) -> argparse.ArgumentParser:
    """The script's parser, described by its docstring's first line; for a benchmark that
    starts services, with --wait-quiet and --keep-db."""
    found = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
    found.add_argument(
        "--wait-quiet", type=float, default=0.0, metavar="SECONDS",
        help="first wait up to this long for the machine to be under 10%% busy",
    )  # fmt: skip
    if services_used:
        found.add_argument("--keep-db", action="store_true", help="keep the database")
    return found


def begin(args: argparse.Namespace) -> dict[str, Any]:
    """Wait for a quiet machine if asked; how busy it is now."""
    wait_for_quiet(args.wait_quiet)
    return background_load()


# --------------------------------------------------------------------------- services


@dataclass
class BenchEnv:
    """A private PostgreSQL database, a private Redis db number and a scratch folder."""

    db_name: str
    redis_db: int
    workdir: Path
    # The service's processes connect as the application's role, as in production (row-level
    # security applies to it); the benchmark's own set-up as the owner (`database_url`).
    app_database_url: str = ""

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:5432/{self.db_name}"

    @property
    def broker_url(self) -> str:
        return f"redis://127.0.0.1:6379/{self.redis_db}"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of every process of this benchmark (and of its own app objects)."""
        from tests.support import services

        env = {k: v for k, v in os.environ.items() if k not in APP_VARIABLES}
        env.update(
            DATABASE_URL=self.app_database_url or self.database_url,
            MIGRATIONS_DATABASE_URL=self.database_url,
            AUDIT_HMAC_KEY=services.AUDIT_HMAC_KEY,
            CELERY_BROKER_URL=self.broker_url,
            DATA_DIR=str(self.workdir / "data"),
            BLOB_STORAGE_URL="db",  # what a PostgreSQL deployment uses by default
            PYTHONUNBUFFERED="1",
            # One account uploads the whole load: counted (the cost is measured), never past.
            UPLOAD_RATE_LIMIT="100000000 per hour",
            REPROCESS_RATE_LIMIT="100000000 per hour",
        )
        return env | extra

    def apply_to_this_process(self) -> None:
        """Make `create_app()` and `celeryconfig` in this process see the benchmark's services."""
        for key in APP_VARIABLES:
            os.environ.pop(key, None)
        os.environ.update(self.env())

    def redis(self) -> Any:
        import redis

        return redis.Redis.from_url(self.broker_url)

    def psql(self) -> Any:
        import psycopg

        return psycopg.connect(self.database_url, autocommit=True)


def fresh_database(db_name: str) -> None:
    from tests.support import services

    services.fresh_database(db_name)


def drop_database(db_name: str) -> None:
    from tests.support import services

    try:
        services.drop_database(db_name)
    except Exception as exc:  # noqa: BLE001 - cleanup goes on
        log(f"could not drop database {db_name}: {exc}")


@contextmanager
def bench_env(name: str, *, keep: bool = False) -> Iterator[BenchEnv]:
    """Benchmark `name`'s database (fresh, migrated) and Redis db (flushed), and a scratch
    folder; all cleaned up afterwards. Raises SystemExit if PostgreSQL or Redis is down."""
    import redis

    from tests.support import services

    db_name, redis_db = DATABASES[name]
    try:
        url = services.fresh_database(db_name)
        redis.Redis(port=6379, socket_timeout=3).ping()
    except (RuntimeError, redis.RedisError) as exc:
        raise SystemExit(f"PostgreSQL or Redis is not reachable: {exc}") from None
    env = BenchEnv(db_name, redis_db, Path(tempfile.mkdtemp(prefix=f"sfp-{name}-")))
    (env.workdir / "data").mkdir()
    log(f"database {db_name}: created and migrated; redis db {redis_db}; scratch {env.workdir}")
    services.migrate(url)
    env.app_database_url = services.app_role_url(url)
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
        shutil.rmtree(env.workdir, ignore_errors=True)


@dataclass(frozen=True)
class Identity:
    account_id: str
    token: str
    profile_id: str


def flask_cli(env: Mapping[str, str], *args: str) -> dict[str, Any]:
    """Run `flask --app app ARGS…` and return the JSON object it prints."""
    done = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "app", *args], env=dict(env), cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def create_identity(env: BenchEnv, label: str = "bench") -> Identity:
    """An account with a token and one profile, made through the admin CLI as an operator would."""
    email = f"{label}-{uuid.uuid4().hex[:8]}@bench.invalid"
    account = flask_cli(env.env(), "accounts", "create", "--email", email)
    profile = flask_cli(
        env.env(), "profiles", "create", "--owner", account["account_id"],
        "--name", f"{label} patient", "--type", "self",
    )  # fmt: skip
    return Identity(str(account["account_id"]), str(account["token"]), str(profile["profile_id"]))


# --------------------------------------------------------------------------- processes


@dataclass
class Processes:
    """The benchmark's children. Use as a context manager: everything started is stopped."""

    workdir: Path
    children: list[WorkerProcess] = field(default_factory=list)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *_: object) -> None:
        for child in reversed(list(self.children)):
            try:
                self.stop(child)
            except Exception as exc:  # noqa: BLE001 - keep going: stop every child
                log(f"stopping {child.name}: {exc}")

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> WorkerProcess:
        from tests.support.workers import spawn

        child = spawn(list(argv), dict(env), self.workdir / f"{name}.log", inherit=False,
                      new_session=True)  # fmt: skip
        child.name = name
        self.children.append(child)
        return child

    def stop(self, child: WorkerProcess, *, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        child.stop(sig, timeout)
        # Its own session (new_session): reap anything it left behind.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        if child in self.children:
            self.children.remove(child)


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    child: WorkerProcess | None = None,
    interval: float = 0.1,
) -> None:
    """Poll `predicate`; RuntimeError (with the child's log) if it times out or the child exits."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if child is not None and not child.alive():
            raise RuntimeError(f"{child.name} exited while waiting for {what}:\n{child.log_tail()}")
        if time.monotonic() > deadline:
            tail = child.log_tail() if child else ""
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}\n{tail}")
        time.sleep(interval)


def http_ok(port: int, path: str) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", path)
        status = conn.getresponse().status
        conn.close()
    except OSError:
        return False
    return status < 500


@dataclass(frozen=True)
class GunicornSettings:
    workers: int
    threads: int
    access_log: bool = True
    # SO_REUSEPORT: each worker listens on its own socket and the kernel spreads new
    # connections over them, instead of whichever worker wakes first taking them all.
    reuse_port: bool = False

    @property
    def kind(self) -> str:
        return "gthread" if self.threads > 1 else "sync"

    @property
    def label(self) -> str:
        return f"{self.workers}w x {self.threads}t ({self.kind}{', reuse-port' * self.reuse_port})"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "worker_class": self.kind}


def start_gunicorn(
    procs: Processes,
    name: str,
    settings: GunicornSettings,
    env: Mapping[str, str],
    app_spec: str = "app:create_app()",
    probe: str = "/api/v1/openapi.json",
) -> tuple[WorkerProcess, int]:
    """The Procfile's `web` line on a loopback port, with the given workers x threads; once
    every worker booted and `probe` answers: (the master, its port)."""
    from tests.support.services import free_port

    port = free_port()
    argv = [PYTHON, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers",
            str(settings.workers), "--threads", str(settings.threads), "--worker-tmp-dir",
            "/dev/shm", *["--reuse-port"] * settings.reuse_port]  # fmt: skip
    if settings.access_log:
        argv += ["--access-logfile", "-", "--access-logformat",
                 '%(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms']  # fmt: skip
    child = procs.start(name, [*argv, app_spec], env)
    child.wait_for_count("Booting worker", settings.workers, timeout=60)
    wait_until(lambda: http_ok(port, probe), timeout=60, what=f"{name} to answer", child=child)
    return child, port


def start_worker(procs: Processes, env: Mapping[str, str], lane: str, concurrency: int = 2, *,
                 include: str = "", hostname: str = "",
                 wait: bool = True) -> WorkerProcess:  # fmt: skip
    """The Procfile's `fast`/`ai` line (prefork, its time limits; OMP_THREAD_LIMIT=1 for
    `fast`), `--include`d modules added; by default once it is ready."""
    soft, hard = (110, 120) if lane == "fast" else (570, 600)
    argv = [str(VENV_BIN / "celery"), "--app", "tasks.worker", "worker", "--pool", "prefork",
            "--queues", lane, "--hostname", hostname or f"{lane}-bench@%h", "--concurrency",
            str(concurrency), "--soft-time-limit", str(soft), "--time-limit", str(hard),
            "--without-mingle", "--loglevel", "INFO",
            *(["--include", include] * bool(include))]  # fmt: skip
    lane_env = {**env, **({"OMP_THREAD_LIMIT": "1"} if lane == "fast" else {})}
    child = procs.start(f"worker-{lane}-{uuid.uuid4().hex[:4]}", argv, lane_env)
    if wait:
        child.wait_for_line(" ready.", timeout=90)
    return child


def worker_pids(master_pid: int) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(master_pid).children(recursive=False)]
    except psutil.NoSuchProcess:
        return []


def post_file(port: int, token: str, profile_id: str, path: Path, *, name: str) -> dict[str, Any]:
    """Stream a multipart upload of `path` (64 KiB writes, Content-Length, no chunking; the
    client never holds the file): status, JSON body, seconds to send and in all."""
    boundary = "sfpbench" + uuid.uuid4().hex
    preamble = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="patient_id"\r\n\r\n'
        f'{profile_id}\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{name}"\r\nContent-Type: application/pdf\r\n\r\n'
    ).encode()
    epilogue = f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.monotonic()
    conn.putrequest("POST", UPLOAD_PATH)
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(preamble) + path.stat().st_size + len(epilogue)))
    conn.endheaders()
    conn.send(preamble)
    with path.open("rb") as source:
        while piece := source.read(64 * 1024):
            conn.send(piece)
    conn.send(epilogue)
    sent = time.monotonic()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    done = time.monotonic()
    return {"status": response.status, "body": json.loads(body or b"{}"),
            "send_s": round(sent - started, 3), "total_s": round(done - started, 3)}  # fmt: skip


# --------------------------------------------------------------------------- the whole service


@dataclass
class Stack:
    """gunicorn and one worker per lane, no beat (start_stack)."""

    port: int
    web: WorkerProcess
    workers: dict[str, WorkerProcess]
    identity: Identity

    def upload(self, path: Path) -> str:
        """POST `path`; the new shell file's id. RuntimeError unless the API answers 201."""
        token, profile = self.identity.token, self.identity.profile_id
        answer = post_file(self.port, token, profile, path, name=path.name)
        if answer["status"] != 201:
            raise RuntimeError(f"upload of {path.name}: {answer['status']} {answer['body']}")
        return str(answer["body"]["shell_file_id"])

    def wait_completed(self, conn: Any, ids: Sequence[str], timeout: float) -> dict[str, float]:
        """Poll until every shell file is completed; their `processing_completed_at` (Unix
        time). RuntimeError, with the error rows, if one ends otherwise or on `timeout`."""
        deadline, pending, done = time.monotonic() + timeout, set(ids), {}
        while pending:
            rows = conn.execute(
                "SELECT id::text, status, processing_completed_at FROM shell_files"
                " WHERE id = ANY(%s::uuid[])", (list(pending),),
            ).fetchall()  # fmt: skip
            for shell_file_id, status, completed_at in rows:
                if status == "completed":
                    done[shell_file_id] = completed_at.timestamp()
                    pending.discard(shell_file_id)
                elif status in ("failed", "quarantined", "cancelled"):
                    errors = conn.execute(
                        "SELECT stage, error_type FROM processing_errors WHERE shell_file_id = %s",
                        (shell_file_id,),
                    ).fetchall()
                    raise RuntimeError(f"shell file {shell_file_id} ended {status}: {errors}")
            if pending and time.monotonic() > deadline:
                tails = "".join(f"\n--- {c.name}\n{c.log_tail(15)}" for c in self.workers.values())
                raise RuntimeError(
                    f"{len(pending)} documents not completed in {timeout:.0f} s{tails}"
                )
            time.sleep(0.02 if pending else 0)
        return done

    def stop(self, procs: Processes) -> None:
        for child in (*self.workers.values(), self.web):
            procs.stop(child)


def start_stack(env: BenchEnv, procs: Processes, concurrency: int,
                lanes: Sequence[str] = ("fast", "ai"), **worker_env: str) -> Stack:  # fmt: skip
    """The API (1 worker x 4 threads) and a worker for each lane (`concurrency` processes
    each, `worker_env` added), local AI, ready to take work."""
    identity = create_identity(env, "bench")
    web, port = start_gunicorn(procs, "web", GunicornSettings(1, 4), env.env(AI_PROVIDER="local"))
    workers = {lane: start_worker(procs, env.env(AI_PROVIDER="local", **worker_env), lane,
                                  concurrency, wait=False) for lane in lanes}  # fmt: skip
    for child in workers.values():
        child.wait_for_line(" ready.", timeout=90)
    return Stack(port, web, workers, identity)


# --------------------------------------------------------------------------- CPU and noise


def tree_cpu(pid: int) -> dict[int, float]:
    """User+system CPU per process of a process tree; key -pid holds the CPU of the root's
    children that already exited and were reaped."""
    import psutil

    found: dict[int, float] = {}
    with suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        times = root.cpu_times()
        found[-root.pid] = times.children_user + times.children_system
        for proc in [root, *root.children(recursive=True)]:
            with suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                found[proc.pid] = times.user + times.system
    return found


def named_cpu(names: Iterable[str]) -> dict[int, float]:
    """User+system CPU per process with one of these names, e.g. every postgres backend.
    For the top process of each family (the postmaster), key -pid holds the CPU of its
    reaped children: a backend a pool opened and closed meanwhile is counted, not lost."""
    import psutil

    wanted, found = set(names), {}
    for proc in psutil.process_iter(["name", "ppid"]):
        with suppress(psutil.Error):
            if proc.info["name"] not in wanted:
                continue
            times = proc.cpu_times()
            found[proc.pid] = times.user + times.system
            parent = psutil.Process(proc.info["ppid"]) if proc.info["ppid"] else None
            if parent is None or parent.name() not in wanted:
                found[-proc.pid] = times.children_user + times.children_system
    return found


def system_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all CPUs, all processes, the kernel)."""
    import psutil

    t = psutil.cpu_times()
    extra = sum(getattr(t, name, 0.0) for name in ("irq", "softirq", "steal"))
    return float(t.user + t.nice + t.system + extra)


def own_cpu() -> float:
    """CPU seconds of this process and its reaped children."""
    import resource

    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Noise:
    """Share of the machine used by anything but this process and its children since made."""

    def __init__(self) -> None:
        self._start = (system_busy_seconds(), own_cpu(), time.monotonic())

    def share(self) -> float:
        system, own, wall = self._start
        used = system_busy_seconds() - system - (own_cpu() - own)
        return max(0.0, used) / (max(time.monotonic() - wall, 1e-3) * (os.cpu_count() or 1))


def cpu_groups(trees: Mapping[str, int]) -> dict[str, Callable[[], dict[int, float]]]:
    """CpuMeter groups: each named process tree (by its root's pid), PostgreSQL and Redis."""
    groups = {label: functools.partial(tree_cpu, pid) for label, pid in trees.items()}
    groups["postgres"] = functools.partial(named_cpu, ["postgres"])
    groups["redis"] = functools.partial(named_cpu, ["redis-server"])
    return groups


class CpuMeter:
    """CPU seconds spent by groups of processes between `start()` and `stop()`, plus
    "other": what the rest of the machine burnt meanwhile (a noise indicator)."""

    OTHER = "other (rest of machine)"

    def __init__(self, groups: Mapping[str, Callable[[], Any]]) -> None:
        # label -> callable returning cumulative CPU seconds, one number or {pid: seconds};
        # the latter per process, so a process that exits meanwhile (a PostgreSQL backend
        # closed by the pool) does not subtract its whole life's CPU.
        self.groups = dict(groups)
        self._start: dict[str, Any] = {}
        self._system = self._wall = 0.0

    @staticmethod
    def _delta(before: Any, after: Any) -> float:
        if not isinstance(after, dict):
            return float(after - before)
        total = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
        # A process that exited shows up in its parent's reaped time (key -parent) with its
        # whole life's CPU: take off what it had used before.
        return total - sum(cpu for pid, cpu in before.items() if pid > 0 and pid not in after)

    def start(self) -> None:
        self._start = {label: read() for label, read in self.groups.items()}
        self._system, self._wall = system_busy_seconds(), time.monotonic()

    def stop(self) -> dict[str, float]:
        seconds = {label: max(0.0, self._delta(self._start[label], read()))
                   for label, read in self.groups.items()}  # fmt: skip
        system = system_busy_seconds() - self._system
        seconds[self.OTHER] = max(0.0, system - sum(seconds.values()))
        self.wall = time.monotonic() - self._wall
        return seconds

    def noise(self, seconds: Mapping[str, float]) -> float:
        """The share of the machine "other" used over the last measurement."""
        return round(seconds[self.OTHER] / (max(self.wall, 1e-3) * (os.cpu_count() or 1)), 3)


def quiet_rounds(measure: Callable[[int], dict[str, dict[str, Any]]], rounds: int,
                 retries: int) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """`rounds` rounds of `measure(round)` ({side: figures with "noise"}), the sides side by
    side; a round during which other processes used more than NOISE_LIMIT of the machine is
    measured again, up to `retries` times in all. Every side's figures, in order."""
    runs: dict[str, list[dict[str, Any]]] = {}
    while min(map(len, runs.values()), default=0) < rounds:
        found = measure(min(map(len, runs.values()), default=0) + 1)
        noise = max(f["noise"] for f in found.values())
        if noise > NOISE_LIMIT and retries > 0:
            retries -= 1
            log(f"repetition discarded: other processes used {noise:.0%} of the machine")
            continue
        for side, figures in found.items():
            runs.setdefault(side, []).append(figures)
    return runs


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
    """How busy the machine is before the benchmark starts, and who is busy (a warning above
    10 %: on 2 cores a test suite or a build running meanwhile easily halves a figure)."""
    import psutil

    procs = list(psutil.process_iter(["pid", "name", "cmdline"]))
    for proc in procs:
        with suppress(psutil.Error):
            proc.cpu_percent(None)
    busy = psutil.cpu_percent(interval=seconds)
    top = []
    for proc in procs:
        with suppress(psutil.Error):
            pct = proc.cpu_percent(None)
            if pct >= 5:
                cmd = " ".join(proc.info.get("cmdline") or [proc.info.get("name") or "?"])
                top.append({"pid": proc.info["pid"], "cpu_percent": pct, "command": cmd[:120]})
    top.sort(key=lambda p: -p["cpu_percent"])
    if busy > 10:
        busiest = "; ".join(f"{p['cpu_percent']:.0f}% {p['command']}" for p in top[:3])
        log(f"WARNING: the machine is already {busy:.0f}% busy before the benchmark; the "
            f"figures will be noisy. Busiest: {busiest}")  # fmt: skip
    return {"busy_percent": busy, "busiest": top[:5]}


# --------------------------------------------------------------------------- memory


class RssSampler:
    """The RSS of some processes (with `tree`, also of every descendant of the first, looked
    up once a second), sampled every `every` seconds in a thread: the peak of each process
    and of their sum. Use as a context manager."""

    def __init__(self, pids: Sequence[int], *, tree: bool = False, every: float = 0.05) -> None:
        import psutil

        self.procs = {pid: psutil.Process(pid) for pid in pids}
        self.tree, self.every = tree, every
        self.peak: dict[int, int] = {}
        self.peak_sum = self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def refresh(self) -> list[int]:
        """Every process of the tree now (listing children walks /proc, so not every sample)."""
        import psutil

        if self.tree:
            with suppress(psutil.NoSuchProcess):
                for child in next(iter(self.procs.values())).children(recursive=True):
                    self.procs.setdefault(child.pid, child)
        return list(self.procs)

    def now(self) -> dict[int, int]:
        import psutil

        found = {}
        for pid, proc in list(self.procs.items()):
            with suppress(psutil.Error):
                found[pid] = proc.memory_info().rss
        return found

    def _run(self) -> None:
        refreshed = 0.0
        while not self._stop.is_set():
            if time.monotonic() - refreshed >= 1.0:
                self.refresh()
                refreshed = time.monotonic()
            reading = self.now()
            for pid, rss in reading.items():
                self.peak[pid] = max(self.peak.get(pid, 0), rss)
            self.peak_sum = max(self.peak_sum, sum(reading.values()))
            self.samples += 1
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def reset_kernel_peak(pid: int) -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of `pid`; False where that is not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def kernel_peak(pid: int) -> int | None:
    """VmHWM: the highest RSS the kernel saw since the last reset (no sampling gaps)."""
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (pct in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def ratio(ours: float, base: float) -> float:
    return ours / base if base else float("nan")


def spread(values: Sequence[float]) -> dict[str, float]:
    """p50, p95 and mean of some samples."""
    return {"p50": median(values), "p95": percentile(values, 95), "mean": mean(values)}


# --------------------------------------------------------------------------- report


def fmt(value: Any, digits: int = 1) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    return "\n".join([line(cells[0]), line(["-" * w for w in widths]), *map(line, cells[1:])])


def table(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print a heading (or a sentence) and a markdown table under it."""
    print(f"\n{title}\n")
    print(markdown_table(headers, rows))


@dataclass(frozen=True)
class Row:
    """One headline figure, with the baseline measured in the same run (the suite's rows)."""

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
        command: str = "", *, floor: str = "", met: bool | None = None,
        ratio: float | None = None) -> Row:  # fmt: skip
    """A row; the ratio is value / baseline_value unless given."""
    if ratio is None and value is not None and baseline_value:
        ratio = value / baseline_value
    return Row(figure, value, unit, baseline, baseline_value, ratio, floor, met, command)


def number(value: float | None) -> str:
    """A figure to three significant digits or so; "-" for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if size >= 10 else f"{value:.2f}" if size >= 1 else f"{value:.3g}"


def headline(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Print the rows that have a floor as met yes/NO (n/a: not at these sizes); return every
    row for the results JSON, whose `headline` the suite reads."""
    met = {True: "yes", False: "NO", None: "n/a"}
    if any(r.floor for r in rows):
        table("Floors (informational):", ["figure", "measured", "floor", "met"],
              [[r.figure, f"{number(r.value)} {r.unit}", r.floor, met[r.met]]
               for r in rows if r.floor])  # fmt: skip
    return [asdict(r) for r in rows]


def machine_info() -> dict[str, Any]:
    import psutil

    cpu_model = ""
    with suppress(OSError):
        cpu_model = next((line.split(":", 1)[1].strip() for line in
                          Path("/proc/cpuinfo").read_text().splitlines()
                          if line.startswith("model name")), "")  # fmt: skip
    return {"cpus": os.cpu_count(), "cpu_model": cpu_model,
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "platform": platform.platform()}  # fmt: skip


def code_state() -> dict[str, Any]:
    """The commit measured, and which files outside bench/ differed from it (the working
    tree is what runs, so a dirty tree is part of what a figure describes)."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True,
                                  text=True, timeout=10, check=False)  # fmt: skip
        except OSError:
            return ""
        return done.stdout.rstrip("\n") if done.returncode == 0 else ""

    status = git("status", "--porcelain").splitlines()
    changed = [line[3:] for line in status if not line[3:].startswith("bench/")]
    return {"head": git("rev-parse", "HEAD").strip(), "uncommitted_changes": changed}


def write_results(name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Write bench/results/<name>.json (the payload, the machine and the code measured),
    print its path, and return the payload."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    body = {"benchmark": name, "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine_info(), "code": code_state(), **payload}  # fmt: skip
    path.write_text(json.dumps(body, indent=2, default=str) + "\n")
    print(f"\nresults: {path.relative_to(PROJECT_ROOT)}")
    return dict(payload)


def warn_noisy(noise: float, during: str) -> None:
    """A warning when other processes used more than NOISE_LIMIT of the machine meanwhile."""
    if noise > NOISE_LIMIT:
        print(f"WARNING: other processes used more than {NOISE_LIMIT:.0%} of the machine during "
              f"{during}: wall figures are inflated. Re-run on a quiet machine "
              "(--wait-quiet).")  # fmt: skip


def busy_before(background: Mapping[str, Any]) -> None:
    print(f"\nMachine busy before the benchmark started: {background['busy_percent']:.0f}%.")
