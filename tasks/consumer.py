"""The worker's broker consumer: Celery's own, surviving a broker connection lost twice.

Celery 5.7.0's `Consumer.on_connection_error_after_connected` first `collect()`s the
broken connection, which detaches its transport, then `close()`s it; closing the
channel restores unacknowledged messages through the detached transport and raises
`AttributeError`, which is not a connection error, so the worker stops with
"Unrecoverable error". Found by `bench/chaos.py` restarting Redis under load. The
connection is gone either way; the messages it could not restore stay in Redis's
unacked set until `visibility_timeout`, and the outbox relay republishes any job a
restarted Redis lost. Selected by `worker_consumer` in `celeryconfig.py`.
"""

from __future__ import annotations

import logging

from celery.worker.consumer import Consumer as CeleryConsumer

log = logging.getLogger(__name__)


class Consumer(CeleryConsumer):
    def on_connection_error_after_connected(self, exc: Exception) -> None:
        try:
            super().on_connection_error_after_connected(exc)
        except AttributeError:
            log.warning("broker connection closed without restoring unacked messages")
