"""A document that hangs a stage every time: the stage's time limit stops it, each attempt
leaves an error row, the document ends failed, and other documents keep flowing."""

from __future__ import annotations

import pytest

from tests.support.pipeline import errors_of, start_scripted_run, wait_for_status

pytestmark = [pytest.mark.usefixtures("worker"), pytest.mark.slow]


def test_a_hanging_stage_times_out_once_and_fails_without_blocking(app, broker_client) -> None:
    poison = start_scripted_run(app, broker_client, [("fast.test_slow_stage", "sleep 60")])
    others = [
        start_scripted_run(app, broker_client, [("fast", "ok"), ("ai", "ok")]) for _ in range(5)
    ]

    for run in others:  # the healthy documents do not wait for the poison one
        assert wait_for_status(app, run.shell_file_id, timeout=20).status == "completed"
    shell_file = wait_for_status(app, poison.shell_file_id, timeout=90)

    assert shell_file.status == "failed"
    errors = errors_of(app, poison.shell_file_id)
    # Final at once (#15): a retry would only hang again, holding a worker for the limit.
    assert [(e.error_type, e.retry_count, e.is_final) for e in errors] == [
        ("stage_timeout", 0, True)
    ]
