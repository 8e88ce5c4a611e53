"""The AI providers' shared rate limit, on a real Redis."""

from __future__ import annotations

import time

import pytest

from app.config import ConfigError, Settings
from app.pipeline.errors import RateLimited
from app.ratelimit import RedisRateLimiter


@pytest.fixture
def redis_client(redis_server):
    client = redis_server.client()
    for key in client.scan_iter("ratelimit:*"):
        client.delete(key)
    return client


def limiter(client, **limits) -> RedisRateLimiter:
    options = {"requests_per_minute": 0, "tokens_per_minute": 0} | limits
    return RedisRateLimiter(client, "test", **options)


def test_requests_per_minute_are_shared_by_every_worker(redis_client) -> None:
    first, second = (
        limiter(redis_client, requests_per_minute=2),
        limiter(redis_client, requests_per_minute=2),
    )
    first.acquire(10)
    second.acquire(10)
    with pytest.raises(RateLimited) as limited:
        first.acquire(10)
    assert limited.value.retry_after == pytest.approx(30, abs=1)  # one request per 30 s


def test_tokens_per_minute(redis_client) -> None:
    gate = limiter(redis_client, tokens_per_minute=1000)
    gate.acquire(900)
    with pytest.raises(RateLimited) as limited:
        gate.acquire(300)
    assert limited.value.retry_after == pytest.approx(12, abs=1)  # 200 tokens at 1000/min


def test_a_short_wait_is_slept_out(redis_client) -> None:
    gate = limiter(redis_client, requests_per_minute=60)
    for _ in range(60):
        gate.acquire(1)
    started = time.monotonic()
    gate.acquire(1)
    assert 0.5 < time.monotonic() - started < 2.5


def test_a_retry_after_from_the_service_holds_every_worker(redis_client) -> None:
    limiter(redis_client, requests_per_minute=600).block(20)
    with pytest.raises(RateLimited) as limited:
        limiter(redis_client, requests_per_minute=600).acquire(1)
    assert limited.value.retry_after == pytest.approx(20, abs=1)


def test_openai_provider_settings() -> None:
    with pytest.raises(ConfigError, match="AI_BASE_URL"):
        Settings.from_env({"AI_PROVIDER": "openai"})
    with pytest.raises(ConfigError, match="AI_PROVIDER"):
        Settings.from_env({"AI_PROVIDER": "magic"})
    settings = Settings.from_env(
        {
            "AI_PROVIDER": "openai",
            "AI_BASE_URL": "http://127.0.0.1:9/v1",
            "AI_MODEL": "m",
            "AI_API_KEY": "secret-key",
            "AI_REQUESTS_PER_MINUTE": "30",
        }
    )
    assert (settings.ai_provider, settings.ai_requests_per_minute) == ("openai", 30)
    assert "secret-key" not in repr(settings)


def test_the_worker_builds_the_configured_provider(app) -> None:
    from app.pipeline.ai.openai_compat import OpenAICompatProvider
    from tasks.ai import provider_for
    from tasks.stages import TASKS  # registers the stage tasks, whatever ran before

    task = TASKS["pass1"]
    settings = app.config["SETTINGS"].with_overrides(
        {
            "ai_provider": "openai",
            "ai_base_url": "http://127.0.0.1:9/v1",
            "ai_model": "m",
            "ai_requests_per_minute": 30,
        }
    )
    provider = provider_for(task, settings)
    assert isinstance(provider, OpenAICompatProvider)
    assert isinstance(provider.rate_limiter, RedisRateLimiter)
    assert provider_for(task, app.config["SETTINGS"]).name == "local"
