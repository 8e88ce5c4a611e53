"""Chaos: upload N documents while workers are killed and Redis restarts; count what is lost."""

from __future__ import annotations

import contextlib
import io
import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil

from bench import harness
from bench.harness import GunicornSettings, log
from tests.support.services import RedisServer
from tests.support.workers import WorkerProcess

TERMINAL = ("completed", "failed", "quarantined", "cancelled", "archived")
FAULTS = ("kill-pool-child", "kill-worker", "term-worker", "restart-redis", "pause-worker")
STALE_AFTER_S = 10.0
# A completed document without every page's OCR and layout, its narrative, or every stage.
INCONSISTENT = """
    SELECT count(*) FROM shell_files f
    WHERE f.id = ANY(%s::uuid[]) AND f.status = 'completed' AND (
        (SELECT count(*) FROM ocr_pages o WHERE o.shell_file_id = f.id) <> f.page_count
     OR (SELECT count(*) FROM page_layouts p WHERE p.shell_file_id = f.id) <> f.page_count
     OR NOT EXISTS (SELECT 1 FROM narratives n WHERE n.shell_file_id = f.id)
     OR EXISTS (SELECT 1 FROM job_queue j WHERE j.shell_file_id = f.id
                AND j.run_number = f.run_number AND j.status <> 'completed'))
"""


def letter(index: int) -> bytes:
    """A one-page born-digital clinic letter, different for every index."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4)
    lines = [f"Riverside Clinic - letter {index}", "Diagnosis: type 2 diabetes mellitus.",
             f"Medication: metformin {250 + index % 4 * 250} mg twice daily.",
             f"HbA1c {5 + index % 30 / 10:.1f} % on review.",
             "Allergy: penicillin (rash)."]  # fmt: skip
    for row, text in enumerate(lines):
        page.drawString(72, 770 - row * 18, text)
    page.save()
    return out.getvalue()


@dataclass
class Service:
    """The processes under test, which the chaos thread kills and replaces."""

    procs: harness.Processes
    env: dict[str, str]
    redis: RedisServer
    workers: dict[str, WorkerProcess] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    crashes: int = 0

    def supervise(self) -> None:
        """Start a worker again if it died on its own, as a hosting platform would; count it."""
        with self.lock:
            for lane, worker in list(self.workers.items()):
                if not worker.alive():
                    self.crashes += 1
                    log(f"the {lane} worker died on its own (exit {worker.process.returncode})")
                    self.start_worker(lane)

    def start_worker(self, lane: str) -> None:
        concurrency, hostname = 2 if lane == "fast" else 1, f"{lane}-{uuid.uuid4().hex[:6]}@%h"
        self.workers[lane] = harness.start_worker(
            self.procs, self.env, lane, concurrency, hostname=hostname, wait=False
        )

    def fault(self, kind: str, rng: random.Random) -> None:
        lane = rng.choice(("fast", "ai"))
        with self.lock:
            worker = self.workers[lane]
            if kind == "kill-pool-child":
                children = harness.worker_pids(worker.pid)
                if children:
                    psutil.Process(rng.choice(children)).kill()
            elif kind == "kill-worker":
                self.procs.stop(worker, sig=signal.SIGKILL, timeout=10)
                time.sleep(rng.uniform(0.5, 2))
                self.start_worker(lane)
            elif kind == "term-worker":
                self.procs.stop(worker, sig=signal.SIGTERM, timeout=60)
                self.start_worker(lane)
            elif kind == "restart-redis":
                self.redis.stop()
                time.sleep(rng.uniform(1, 4))
                self.redis.start()
            elif kind == "pause-worker":  # a stalled machine: sometimes past STALE_AFTER
                self.pause(worker, rng.uniform(0.5, 2.0) * STALE_AFTER_S)

    @staticmethod
    def pause(worker: WorkerProcess, seconds: float) -> None:
        """SIGSTOP the worker and its pool for `seconds`, then SIGCONT: its stages go stale
        and are taken over; when it resumes, its late writes must be fenced out."""
        pids = [worker.pid, *harness.worker_pids(worker.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        time.sleep(seconds)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


@dataclass
class Uploads:
    accepted: dict[int, str] = field(default_factory=dict)  # document index -> shell file id
    refused: dict[int, int] = field(default_factory=dict)  # document index -> final status
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def upload_one(client: httpx.Client, token: str, profile: str, index: int, run: str, up: Uploads):
    body = letter(index)
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"{run}-{index}"}
    for _attempt in range(60):
        try:
            files = {"file": (f"letter-{index}.pdf", body, "application/pdf")}
            response = client.post(harness.UPLOAD_PATH, headers=headers, files=files,
                                   data={"patient_id": profile})  # fmt: skip
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code < 500:
            with up.lock:
                if response.status_code in (200, 201):
                    up.accepted[index] = response.json()["shell_file_id"]
                else:
                    up.refused[index] = response.status_code
            return
        with up.lock:
            up.retries += 1
        time.sleep(0.5)
    with up.lock:
        up.refused[index] = -1


def settle(
    env: harness.BenchEnv, service: Service, ids: list[str], timeout: float
) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        service.supervise()
        with env.psql() as db:
            rows = db.execute(
                "SELECT id::text, status FROM shell_files WHERE id = ANY(%s::uuid[])", (ids,)
            ).fetchall()
        statuses = dict(rows)
        pending = [i for i in ids if statuses.get(i) not in TERMINAL]
        if not pending or time.monotonic() > deadline:
            return statuses
        log(f"waiting for {len(pending)} document(s) to settle")
        time.sleep(5)


def audit(env: harness.BenchEnv, ids: list[str]) -> tuple[dict[str, int], list[float]]:
    """Duplicates, completed documents missing an output and stages run again, straight from
    PostgreSQL; and when every stage completed (Unix time, in order)."""
    with env.psql() as db:

        def count(sql: str) -> int:
            return int(db.execute(sql, (ids,) if "%s" in sql else None).fetchone()[0])

        counts = {
            "duplicated": count(
                "SELECT count(*) FROM (SELECT idempotency_key FROM shell_files WHERE "
                "idempotency_key IS NOT NULL GROUP BY uploaded_by, idempotency_key "
                "HAVING count(*) > 1) d"
            ) + count(
                "SELECT count(*) FROM (SELECT sha256 FROM shell_files GROUP BY patient_id, sha256 "
                "HAVING count(*) > 1) d"
            ),
            "inconsistent": count(INCONSISTENT),
            "stages_run_again": count("SELECT count(*) FROM job_queue WHERE attempts > 1 "
                                      "AND shell_file_id = ANY(%s::uuid[])"),
        }  # fmt: skip
        completions = db.execute(
            "SELECT extract(epoch FROM completed_at) FROM job_queue "
            "WHERE completed_at IS NOT NULL ORDER BY completed_at"
        ).fetchall()
    return counts, [float(c) for (c,) in completions]


def recovery_times(faults: list[tuple[float, str]], completions: list[float]) -> dict[str, float]:
    """For each fault, seconds until the next stage completed after it had ended."""
    longest: dict[str, float] = {}
    for ended_at, kind in faults:
        following = [c for c in completions if c > ended_at]
        if following:
            longest[kind] = max(longest.get(kind, 0.0), float(following[0]) - ended_at)
    return longest


def start_service(env: harness.BenchEnv, procs: harness.Processes, redis: RedisServer):
    """gunicorn, beat and one worker per lane, as the Procfile runs them; returns the port."""
    process_env = env.env(CELERY_BROKER_URL=redis.url, AI_PROVIDER="local", OMP_THREAD_LIMIT="1",
                          HEARTBEAT_INTERVAL="1", STALE_AFTER=str(STALE_AFTER_S),
                          RECLAIM_INTERVAL="2", OUTBOX_RELAY_INTERVAL="1",
                          OUTBOX_GRACE="2")  # fmt: skip
    service = Service(procs, process_env, redis)
    settings = GunicornSettings(2, 4, access_log=False)
    _, port = harness.start_gunicorn(procs, "web", settings, process_env, probe="/healthz")
    beat_argv = [
        str(harness.VENV_BIN / "celery"), "--app", "tasks.worker", "beat",
        "--schedule", str(env.workdir / "beat-schedule"), "--loglevel", "INFO",
    ]  # fmt: skip
    procs.start("beat", beat_argv, process_env)
    service.start_worker("fast")
    service.start_worker("ai")
    time.sleep(3)  # let the workers connect before the first upload
    return service, port


def drive(
    service: Service, identity: harness.Identity, port: int, args: Any
) -> tuple[Uploads, list[tuple[float, str]], float]:
    """Upload at the given rate while a thread injects faults; stop the faults when done."""
    rng = random.Random(args.seed)
    uploads, faults = Uploads(), []
    uploading = threading.Event()
    uploading.set()

    def chaos() -> None:
        order: list[str] = []
        while uploading.is_set():
            time.sleep(rng.expovariate(1 / args.fault_every))
            service.supervise()
            if not order:  # every kind once per round, in a random order
                order = rng.sample(FAULTS, len(FAULTS))
            kind = order.pop()
            service.fault(kind, rng)
            faults.append((time.time(), kind))
            log(f"fault: {kind}")

    chaos_thread = threading.Thread(target=chaos, daemon=True)
    chaos_thread.start()
    run_id = uuid.uuid4().hex[:8]
    started = time.monotonic()
    with (
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
        ThreadPoolExecutor(args.clients) as pool,
    ):
        for index in range(args.documents):
            time.sleep(max(0.0, started + index / args.rate - time.monotonic()))
            pool.submit(
                upload_one, client, identity.token, identity.profile_id, index, run_id, uploads
            )
    upload_seconds = time.monotonic() - started
    uploading.clear()
    chaos_thread.join()
    return uploads, faults, upload_seconds


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    """Run the service under faults, print the counts and return them; "ok" is false if a
    document was lost, stuck, duplicated or inconsistent, or a worker crashed."""
    parser = harness.parser(__doc__)
    parser.add_argument("--documents", type=int, default=500)
    parser.add_argument("--rate", type=float, default=8.0, help="uploads per second")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--fault-every", type=float, default=4.0, help="mean seconds between")
    parser.add_argument("--settle-timeout", type=float, default=900)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    harness.begin(args)
    with harness.bench_env("chaos", keep=args.keep_db) as env:
        redis = RedisServer(env.workdir / "redis")
        redis.start()
        identity = harness.create_identity(env, "chaos")
        with harness.Processes(env.workdir) as procs:
            service, port = start_service(env, procs, redis)
            started = time.monotonic()
            uploads, faults, upload_seconds = drive(service, identity, port, args)
            log(f"{len(uploads.accepted)} accepted in {upload_seconds:.0f}s; faults stop")
            ids = sorted(set(uploads.accepted.values()))
            statuses = settle(env, service, ids, args.settle_timeout)
            drained = time.monotonic() - started
            checks, completions = audit(env, ids)
        redis.stop()
    ended = [statuses.get(i) for i in ids]
    recovery = recovery_times(faults, completions)
    result = {
        "documents": args.documents, "accepted": len(ids), "refused": len(uploads.refused),
        "client_retries": uploads.retries,
        **{status: ended.count(status) for status in ("completed", "failed", "quarantined")},
        "lost": ended.count(None), "stuck": sum(s is not None and s not in TERMINAL for s in ended),
        **checks, "worker_crashes": service.crashes,
        "faults": {kind: sum(1 for _, k in faults if k == kind) for kind in FAULTS},
        "longest_recovery_s": round(max(recovery.values(), default=0.0), 2),
        "longest_recovery_by_fault_s": {k: round(v, 2) for k, v in recovery.items()},
        "upload_seconds": round(upload_seconds, 1), "all_settled_after_s": round(drained, 1),
        "seed": args.seed,
    }  # fmt: skip
    rows = [(key, value) for key, value in result.items() if not isinstance(value, dict)]
    rows += [(f"faults: {k}", v) for k, v in result["faults"].items()]
    rows += [(f"recovery: {k} (s)", v) for k, v in result["longest_recovery_by_fault_s"].items()]
    print(harness.markdown_table(["measure", "value"], rows))
    bad = result["lost"] + result["stuck"] + result["duplicated"] + result["inconsistent"]
    harness.write_results("chaos", {"result": result})
    return {**result, "ok": not bad + result["worker_crashes"]}


if __name__ == "__main__":
    harness.main(run, ok="ok")
