"""A PostgreSQL cluster of a test's own, which it may stop and start as an outage.

The machine's cluster serves every concurrent test session, so a test that restarts
PostgreSQL does it to a private one: `initdb` into a temporary folder, on a free port,
trust auth, no fsync (nothing here has to survive a power cut). PostgreSQL refuses to
run as root, so under root the server runs as the `postgres` user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from tests.support.services import free_port


def _bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL's server binaries (pg_ctl, initdb) are not installed")
    return found[-1].parent


class PostgresCluster:
    def __init__(self) -> None:
        # Not under pytest's tmp_path: its parents are private to root, and under root
        # the server runs as `postgres`, which must reach its data folder.
        self.workdir = Path(tempfile.mkdtemp(prefix="sfp-postgres-"))
        self.datadir = self.workdir / "pgdata"
        self.port = free_port()
        self.bindir = _bindir()

    def _run(self, *argv: str) -> None:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode:
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()}")

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.datadir), "-U", "postgres", "-A", "trust", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
        options += "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.datadir), "-o", options, "-w", "-t", "60", "start",
                  "-l", str(self.workdir / "server.log"))  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)
