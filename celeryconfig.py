"""Celery configuration: broker, queues, routes, delivery guarantees, retries, beat.

Read from the environment; imports nothing of the project. With no
`CELERY_BROKER_URL` set, the broker is the embedded Redis that the launcher
(`python -m app.ops.launcher`) runs on a unix socket under `DATA_DIR`.
"""

import os
from pathlib import Path

from kombu import Queue


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name) or ""
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


_data_dir = Path(os.environ.get("DATA_DIR") or Path(__file__).resolve().parent / "var").resolve()
EMBEDDED_BROKER_SOCKET = _data_dir / "redis.sock"

broker_url = os.environ.get("CELERY_BROKER_URL") or f"redis+socket://{EMBEDDED_BROKER_SOCKET}"
broker_connection_retry_on_startup = True
broker_transport_options = {
    # One Redis list per priority, so `priority` (our 1-10, sent as 0-9) is exact.
    "priority_steps": list(range(10)),
    "sep": ":",
    "queue_order_strategy": "priority",
    # Reclaim by heartbeat (beat) acts long before this; it only bounds the worst case.
    "visibility_timeout": 3600,
    "socket_timeout": 10,
    "socket_connect_timeout": 5,
    "health_check_interval": 25,
}

# No result backend: chains carry their own continuation and PostgreSQL holds state.
task_ignore_result = True
result_backend = None

task_serializer = "json"
accept_content = ["json"]
event_serializer = "json"

# At-least-once: a message is acknowledged only after its stage committed.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
worker_cancel_long_running_tasks_on_connection_loss = False
# Celery's consumer, kept alive through a second broker connection loss (tasks/consumer.py).
worker_consumer = "tasks.consumer:Consumer"

task_queues = (
    Queue("fast", routing_key="fast"),
    Queue("ai", routing_key="ai"),
)
task_default_queue = "fast"
task_routes = {
    "fast.*": {"queue": "fast"},
    "ai.*": {"queue": "ai"},
    # Bookkeeping is short and rides the fast lane at top priority.
    "maintenance.*": {"queue": "fast", "priority": 0},
}
task_create_missing_queues = False

# Each stage's time limits are set on its task, from the stage list (tasks/stages.py).

# Flower: workers and the producer emit events.
worker_send_task_events = True
# No "task-sent" event per publish: it costs every upload a second message; Flower
# learns of a task when a worker receives it.

# The retry schedule of every stage: 2, 4, 8, 16, 32, 64 s, then final failure.
# Tests shorten the base (Celery rounds it up to at least 1 s) and the count.
stage_retry_backoff = int(_number("STAGE_RETRY_BACKOFF", 2))
stage_retry_backoff_max = 64
stage_max_retries = int(_number("STAGE_MAX_RETRIES", 6))

relay_interval = _number("OUTBOX_RELAY_INTERVAL", 2.0)
reclaim_interval = _number("RECLAIM_INTERVAL", 10.0)
beat_schedule = {
    "relay-outbox": {
        "task": "maintenance.relay_outbox",
        "schedule": relay_interval,
        "options": {"expires": relay_interval * 5},
    },
    "reclaim-stale-jobs": {
        "task": "maintenance.reclaim_stale_jobs",
        "schedule": reclaim_interval,
        "options": {"expires": reclaim_interval * 3},
    },
}
beat_schedule["seal-audit-log"] = {
    "task": "maintenance.seal_audit_log",
    "schedule": _number("AUDIT_SEAL_INTERVAL", 30.0),
    "options": {"expires": 60},
}
beat_schedule_filename = str(_data_dir / "celerybeat-schedule")
