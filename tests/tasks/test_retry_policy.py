"""The production retry policy of every stage task, as Celery will apply it."""

from __future__ import annotations

import importlib

import pytest
from celery.utils.time import get_exponential_backoff_interval

from app.pipeline import STAGES
from app.pipeline.errors import ApiError, PermanentError, SecurityRejected
from app.runs.failures import TRANSIENT_ERRORS, describe


@pytest.fixture
def production_config(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("STAGE_RETRY_BACKOFF", raising=False)
    monkeypatch.delenv("STAGE_MAX_RETRIES", raising=False)
    import celeryconfig

    yield importlib.reload(celeryconfig)
    monkeypatch.undo()
    importlib.reload(celeryconfig)


def test_backoff_schedule_is_2_4_8_16_32_64_then_final(production_config) -> None:
    waits = [
        get_exponential_backoff_interval(
            factor=production_config.stage_retry_backoff,
            retries=retries,
            maximum=production_config.stage_retry_backoff_max,
            full_jitter=False,
        )
        for retries in range(production_config.stage_max_retries)
    ]
    assert waits == [2, 4, 8, 16, 32, 64]


def test_every_stage_task_uses_the_shared_policy(app) -> None:
    celery_app = app.extensions["celery"]
    celery_app.loader.import_default_modules()
    for stage in STAGES:
        task = celery_app.tasks[stage.task_name]
        assert task.autoretry_for == TRANSIENT_ERRORS
        assert task.retry_jitter is False and task.retry_backoff_max == 64
        assert task.acks_late and task.reject_on_worker_lost
        assert PermanentError in task.dont_autoretry_for
        assert 0 < task.soft_time_limit < task.time_limit  # a hanging file cannot hold a worker
    routes = celery_app.conf.task_routes
    assert {stage.lane for stage in STAGES} == {"fast", "ai"}
    for stage in STAGES:
        assert routes[f"{stage.lane}.*"]["queue"] == stage.lane
    assert celery_app.conf.worker_prefetch_multiplier == 1


@pytest.mark.parametrize(
    ("error", "transient", "error_type"),
    [
        (ApiError("upstream 503"), True, "api_error"),
        (ConnectionError("refused"), True, "connection_error"),
        (TimeoutError(), True, "timeout"),
        (SecurityRejected("bad file", "encrypted_pdf"), False, "encrypted_pdf"),
        (ValueError("Patient Jane Example, DOB 1970-01-01"), False, "internal_error"),
    ],
)
def test_errors_are_classified_and_described_without_their_content(
    error: BaseException, transient: bool, error_type: str
) -> None:
    # what Celery does with autoretry_for and dont_autoretry_for
    retried = isinstance(error, TRANSIENT_ERRORS) and not isinstance(error, PermanentError)
    assert retried is transient
    kind, message = describe(error)
    assert kind == error_type
    assert "Jane" not in message and "1970" not in message
