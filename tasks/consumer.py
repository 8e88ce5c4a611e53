"""The worker's broker consumer: Celery's own, surviving a broker connection lost twice.

Celery 5.7.0 and kombu 5.7.0 can raise `AttributeError` from the Redis transport while
a connection is being replaced, where a connection error is what happened:

- `Consumer.on_connection_error_after_connected` first `collect()`s the broken
  connection, which detaches its transport, then `close()`s it; closing the channel
  restores unacknowledged messages through the detached transport. Found by
  `bench/chaos.py` restarting Redis under load.
- After a reconnect, the event loop can still settle a message of the detached
  connection (rejecting an expired beat task, say): the Redis QoS reaches for the
  connection's client and finds none. Found by `tests/tasks/test_faults.py`, about one
  run in five.

Either way the worker would stop with "Unrecoverable error". Here the first is logged
and the second is raised as the connection error it is, so the consumer reconnects as
for any broker outage. Messages that could not be settled stay in Redis's unacked set
until `visibility_timeout`, and the outbox relay republishes any job a restarted Redis
lost. Selected by `worker_consumer` in `celeryconfig.py`.
"""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Callable
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer

log = logging.getLogger(__name__)

_REDIS_TRANSPORT = "kombu/transport/redis.py"


class Consumer(CeleryConsumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        loop: Callable[..., Any] = self.loop  # type: ignore[has-type]  # set by Celery
        self.loop = _reconnecting(loop)

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        try:
            super().on_connection_error_after_connected(exc)
        except AttributeError:
            log.warning("broker connection closed without restoring unacked messages")


def _from_detached_transport(exc: AttributeError) -> bool:
    """Whether the error came from the Redis transport of a connection already replaced."""
    frames = traceback.extract_tb(exc.__traceback__)
    return any(frame.filename.replace("\\", "/").endswith(_REDIS_TRANSPORT) for frame in frames)


def _reconnecting(loop: Callable[..., Any]) -> Callable[..., Any]:
    """The consumer's event loop, raising a detached transport's `AttributeError` as the
    connection error it stands for, so the consumer reconnects instead of stopping."""

    @functools.wraps(loop)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return loop(*args, **kwargs)
        except AttributeError as exc:
            if not _from_detached_transport(exc):
                raise
            log.warning("a message of a replaced broker connection could not be settled")
            raise ConnectionError("the broker connection was replaced") from exc

    return run
