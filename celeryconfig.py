"""Celery configuration: broker, queues, routes, delivery guarantees, retries, beat.

Its values from the environment come from `app.config.CelerySettings`, read when this
module is imported. With no `CELERY_BROKER_URL` set, the broker is the embedded Redis
that the launcher (`python -m app.ops.launcher`) runs on a unix socket under `DATA_DIR`.
"""

from kombu import Queue

from app.config import CelerySettings

_settings = CelerySettings.from_env()

broker_url = _settings.broker_url
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
stage_retry_backoff = _settings.stage_retry_backoff_s
stage_retry_backoff_max = 64
stage_max_retries = _settings.stage_max_retries

relay_interval = _settings.outbox_relay_interval_s
reclaim_interval = _settings.reclaim_interval_s
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
    "schedule": _settings.audit_seal_interval_s,
    "options": {"expires": 60},
}
beat_schedule["sweep-orphans"] = {
    "task": "maintenance.sweep_orphans",
    "schedule": _settings.orphan_sweep_interval_s,
    "options": {"expires": 600},
}
beat_schedule_filename = str(_settings.data_dir / "celerybeat-schedule")
