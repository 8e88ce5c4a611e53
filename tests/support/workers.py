"""Real Celery worker and beat processes for tests: started as subprocesses, as in production."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.config import PROJECT_ROOT


class WorkerProcess:
    def __init__(self, process: subprocess.Popen[bytes], log: Path, name: str = "") -> None:
        self.process, self.log = process, log
        self.name = name or log.stem

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_for_line(self, text: str, timeout: float = 60) -> None:
        self.wait_for_count(text, 1, timeout)

    def wait_for_count(self, text: str, count: int, timeout: float = 60) -> None:
        """Wait until `text` appears `count` times in the log (or the process exits)."""
        deadline = time.monotonic() + timeout
        while self.log_text().count(text) < count:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared in the log:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send `sig` (SIGTERM: Celery's warm shutdown) and wait; kill if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=30)


def start_worker(
    env: dict[str, str],
    workdir: Path,
    *,
    name: str = "test",
    queues: str = "fast,ai",
    concurrency: int = 2,
    beat: bool = False,
) -> WorkerProcess:
    """A prefork worker on `queues` loaded with the scripted test stages; returns once ready."""
    workdir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "celery", "--app", "tasks.worker", "worker",
        "--queues", queues, "--concurrency", str(concurrency), "--pool", "prefork",
        "--include", "tests.support.stage_tasks", "--hostname", f"{name}@%h",
        "--without-mingle", "--without-gossip", "--loglevel", "INFO",
    ]  # fmt: skip
    if beat:
        command += ["--beat", "--schedule", str(workdir / f"{name}-beat-schedule")]
    return spawn(command, env, workdir / f"{name}.log", ready="ready.")


def start_beat(env: dict[str, str], workdir: Path) -> WorkerProcess:
    """Celery beat on its own, so workers can be killed without stopping the relay."""
    workdir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "celery", "--app", "tasks.worker", "beat",
        "--schedule", str(workdir / "beat-schedule"), "--loglevel", "INFO",
    ]  # fmt: skip
    return spawn(command, env, workdir / "beat.log", ready="beat: Starting")


def spawn(
    command: list[str],
    env: dict[str, str],
    log: Path,
    *,
    ready: str | None = None,
    inherit: bool = True,
    new_session: bool = False,
) -> WorkerProcess:
    """Start `command` with its output in `log`; with `ready`, wait for that line (kill it
    and raise AssertionError if it never comes). `env` is added to this process's
    environment, or with `inherit=False` is the whole of it; `new_session` gives it a
    session of its own, so a Ctrl-C in the terminal reaches only its parent."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env=os.environ | env if inherit else env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=PROJECT_ROOT,
            start_new_session=new_session,
        )
    handle = WorkerProcess(process, log)
    if ready is None:
        return handle
    try:
        handle.wait_for_line(ready, timeout=180)  # a bound for a busy machine, not a wait
    except AssertionError:
        process.kill()
        raise
    return handle
