"""Configuration: read in app/config.py only, with defaults the README lists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.config import (
    DEFAULT_STAGE_MAX_RETRIES,
    CelerySettings,
    ConfigError,
    LauncherSettings,
    Settings,
)

ROOT = Path(__file__).resolve().parents[2]
# The launcher hands its whole environment on to the Procfile's processes.
PASSES_THE_ENVIRONMENT_ON = {"app/ops/launcher.py"}


def test_celery_settings_default_to_the_embedded_broker_and_six_retries(tmp_path: Path) -> None:
    settings = CelerySettings.from_env({"DATA_DIR": str(tmp_path)})
    assert settings.embedded_broker
    assert settings.broker_url == f"redis+socket://{tmp_path.resolve() / 'redis.sock'}"
    assert settings.stage_max_retries == DEFAULT_STAGE_MAX_RETRIES == 6
    assert settings.stage_retry_backoff_s == 2
    assert (settings.outbox_relay_interval_s, settings.reclaim_interval_s) == (2.0, 10.0)
    assert settings.audit_seal_interval_s == 30.0


def test_celery_settings_take_the_environment() -> None:
    settings = CelerySettings.from_env(
        {
            "CELERY_BROKER_URL": "redis://broker:6379/0",
            "STAGE_MAX_RETRIES": "3",
            "STAGE_RETRY_BACKOFF": "1",
            "OUTBOX_RELAY_INTERVAL": "0.5",
        }
    )
    assert not settings.embedded_broker and settings.broker_url == "redis://broker:6379/0"
    assert (settings.stage_max_retries, settings.stage_retry_backoff_s) == (3, 1)
    assert settings.outbox_relay_interval_s == 0.5


@pytest.mark.parametrize("name", ["STAGE_MAX_RETRIES", "RECLAIM_INTERVAL"])
def test_a_malformed_celery_setting_is_named(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        CelerySettings.from_env({name: "six"})


def test_nothing_else_reads_the_environment() -> None:
    reads = re.compile(r"os\.environ|os\.getenv|getenv\(")
    sources = [*(ROOT / "app").rglob("*.py"), *(ROOT / "tasks").rglob("*.py")]
    readers = {
        str(path.relative_to(ROOT))
        for path in [*sources, ROOT / "celeryconfig.py"]
        if reads.search(path.read_text())
    }
    assert readers == {"app/config.py", *PASSES_THE_ENVIRONMENT_ON}


def test_the_launcher_listens_on_loopback_unless_told_otherwise() -> None:
    assert LauncherSettings.from_env({}) == LauncherSettings("127.0.0.1", 8000, 5555, "")
    chosen = LauncherSettings.from_env(
        {"BIND_ADDRESS": "0.0.0.0", "PORT": "8080", "FLOWER_PORT": "5556",
         "FLOWER_BASIC_AUTH": "ops:pw"}
    )  # fmt: skip
    assert chosen == LauncherSettings("0.0.0.0", 8080, 5556, "ops:pw")
    assert "ops:pw" not in repr(chosen)


@pytest.mark.parametrize(
    ("name", "value"),
    [("BIND_ADDRESS", "everywhere"), ("PORT", "70000"), ("FLOWER_PORT", "web"),
     ("FLOWER_BASIC_AUTH", "no-colon")],
)  # fmt: skip
def test_a_malformed_launcher_setting_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        LauncherSettings.from_env({name: value})


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.org/v1",
        "http://127.0.0.1:8080/v1",
        "http://127.3.4.5/v1",
        "http://localhost:11434/v1",
        "http://[::1]:8000/v1",
    ],
)
def test_the_model_service_is_https_or_on_this_machine(url: str) -> None:
    env = {"AI_PROVIDER": "openai", "AI_BASE_URL": url, "AI_MODEL": "m"}
    assert Settings.from_env(env).ai_base_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.org/v1",
        "http://10.0.0.5:8000/v1",
        "http://128.0.0.1/v1",
        "http://localhost.example.org/v1",
        "ftp://127.0.0.1/v1",
        "api.example.org/v1",
        "http://user:hunter2@models.internal/v1",
    ],
)
def test_plain_http_to_another_machine_is_refused_at_start_up(url: str) -> None:
    env = {"AI_PROVIDER": "openai", "AI_BASE_URL": url, "AI_MODEL": "m"}
    with pytest.raises(ConfigError, match="AI_BASE_URL must be an https:// URL") as refused:
        Settings.from_env(env)
    assert "hunter2" not in str(refused.value)
