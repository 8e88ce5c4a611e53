"""Priority reaches the broker: an urgent document overtakes a backlog of routine ones."""

from __future__ import annotations

import pytest

from tests.support.pipeline import jobs_of, start_scripted_run, wait_for_status

pytestmark = [pytest.mark.usefixtures("worker"), pytest.mark.slow]


def test_a_priority_1_document_finishes_before_a_priority_9_backlog(app, broker_client) -> None:
    # Each backlog document holds the fast lane a moment, so the backlog outruns the worker.
    backlog = [
        start_scripted_run(app, broker_client, [("fast", "sleep 0.05"), ("ai", "ok")], priority=9)
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


def test_one_profiles_flood_does_not_starve_another_profile(app, broker_client) -> None:
    # Each flood document holds the fast lane a moment, so the flood outruns the worker.
    plans = [("fast", "sleep 0.2"), ("ai", "ok")]
    first = start_scripted_run(app, broker_client, plans)
    flood = [first] + [
        start_scripted_run(app, broker_client, plans, same_profile_as=first) for _ in range(79)
    ]
    # Another profile's document, at the same requested priority, after all of them.
    other = start_scripted_run(app, broker_client, [("fast", "ok"), ("ai", "ok")])

    done_other = wait_for_status(app, other.shell_file_id, timeout=120)
    done_flood = [wait_for_status(app, run.shell_file_id, timeout=180) for run in flood]

    assert done_other.status == "completed"
    assert {shell_file.status for shell_file in done_flood} == {"completed"}
    overtaken = sum(
        1
        for shell_file in done_flood
        if shell_file.processing_completed_at > done_other.processing_completed_at
    )
    # The flood's first documents went at once; the rest queued behind the other profile.
    assert overtaken >= 50
    priorities = [jobs_of(app, run.shell_file_id)[0].priority for run in flood]
    assert priorities[:10] == [5] * 10 and max(priorities) > 5
    assert jobs_of(app, other.shell_file_id)[0].priority == 5
