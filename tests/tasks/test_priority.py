"""Priority reaches the broker: an urgent document overtakes a backlog of routine ones."""

from __future__ import annotations

import pytest

from tests.support.pipeline import start_scripted_run, wait_for_status

pytestmark = [pytest.mark.usefixtures("worker"), pytest.mark.slow]


def test_a_priority_1_document_finishes_before_a_priority_9_backlog(app, broker_client) -> None:
    backlog = [
        start_scripted_run(app, broker_client, [("fast", "ok"), ("ai", "ok")], priority=9)
        for _ in range(200)
    ]
    urgent = start_scripted_run(app, broker_client, [("fast", "ok"), ("ai", "ok")], priority=1)

    done_urgent = wait_for_status(app, urgent.shell_file_id, timeout=120)
    done_backlog = [wait_for_status(app, run.shell_file_id, timeout=180) for run in backlog]

    assert done_urgent.status == "completed"
    last_of_backlog = max(shell_file.processing_completed_at for shell_file in done_backlog)
    assert done_urgent.processing_completed_at < last_of_backlog
    # Not merely not last: it overtook most of the backlog queued before it.
    overtaken = sum(
        1
        for shell_file in done_backlog
        if shell_file.processing_completed_at > done_urgent.processing_completed_at
    )
    assert overtaken >= 100
