"""Publishing queued jobs to the broker: after commit, and again by the relay.

A message runs one stage. What runs next is kept in the job rows alone: completing a
stage queues the next stage's job (`completion.complete_stage`), which its worker then
publishes like any other. `send_job` is the one function that turns a job row into a
message. `publish_after_commit` runs once the transaction that queued the job has
committed; if the broker is unreachable it leaves the job unpublished and returns at
once, and the beat relay (`relay_outbox`) publishes it when the broker is back.

The broker epoch is the Redis server's `run_id`. A job records the epoch it was
published under; Redis here keeps nothing on disk, so a job published under an
older epoch was lost with that server and is published again.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import kombu.exceptions
import redis
import redis.exceptions
from celery import Celery
from sqlalchemy.orm import Session

from app.db import Database
from app.models import Job
from app.runs import completion, enqueue, outbox

log = logging.getLogger(__name__)

BROKER_ERRORS: tuple[type[BaseException], ...] = (
    kombu.exceptions.OperationalError,
    redis.exceptions.RedisError,
    ConnectionError,
    OSError,
    TimeoutError,
)


def send_job(celery_app: Celery, job: Job | enqueue.QueuedJob) -> None:
    """Publish the message that runs `job`'s stage, routed by its task name.

    Tasks receive the job id only. The Celery task id is the job id, so Flower's view of
    a task and the job row are the same thing. Priority 1 (most urgent) is the broker's
    0. Raises a broker error if the message cannot be sent.
    """
    celery_app.send_task(
        job.job_name,
        kwargs={"job_id": str(job.id)},
        task_id=str(job.id),
        priority=job.priority - 1,
        **_task_options(celery_app, job.job_name),
        retry=False,
    )


def _task_options(celery_app: Celery, name: str) -> dict[str, Any]:
    """The options the task's message carries when the task is registered here (in a
    worker: its time limits, whether its result is kept), as `Task.apply_async` would send
    them; none where it is not (the web process), as a signature would not either."""
    task = celery_app.tasks.get(name)
    if task is None:
        return {}
    return {
        "soft_time_limit": task.soft_time_limit,
        "time_limit": task.time_limit,
        "ignore_result": task.ignore_result,
    }


class Dispatcher:
    """Publishes queued jobs for one process, remembering the broker's epoch and its outages.

    After a publish, the job is marked published in PostgreSQL. Under load those marks
    are written together, at most every `mark_interval` seconds, in one UPDATE (a mark
    that never gets written only means the relay publishes that job once more, and a
    stage delivered twice runs once).
    """

    def __init__(
        self,
        celery_app: Celery,
        db: Database,
        *,
        epoch_ttl: float = 5.0,
        mark_interval: float = 0.0,
    ) -> None:
        self.celery = celery_app
        self.db = db
        self.epoch_ttl = epoch_ttl
        self.mark_interval = mark_interval
        self._pending: list[tuple[uuid.UUID, str]] = []
        self._last_mark = 0.0
        self._timer: threading.Timer | None = None
        self._client: redis.Redis | None = None
        self._lock = threading.Lock()
        self._epoch: str | None = None
        self._epoch_read_at = 0.0
        # After a failed publish, uploads skip the broker for a moment and leave the
        # work to the relay, so an outage does not slow every upload down.
        self._down_until = 0.0

    def epoch(self, *, fresh: bool = False) -> str:
        """The broker's current run id (cached briefly unless `fresh`). Raises a broker
        error if down."""
        with self._lock:
            young = time.monotonic() - self._epoch_read_at < self.epoch_ttl
            if self._epoch is not None and young and not fresh:
                return self._epoch
        epoch = str(self.broker_client().info("server")["run_id"])
        with self._lock:
            self._epoch, self._epoch_read_at = epoch, time.monotonic()
        return epoch

    def broker_client(self) -> redis.Redis:
        """A plain client for the broker with short timeouts, so a broker that is down
        fails this check at once instead of after kombu's connection retries."""
        if self._client is None:
            url = str(self.celery.conf.broker_url)
            if url.startswith("redis+socket://"):
                url = "unix://" + url.removeprefix("redis+socket://")
            self._client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0)
        return self._client

    def forget_epoch(self) -> None:
        with self._lock:
            self._epoch = None

    def publish(self, jobs: Sequence[Job | enqueue.QueuedJob]) -> str:
        """Send the jobs' messages; return the epoch they went to. Raises a broker error
        on failure."""
        epoch = self.epoch()
        for job in jobs:
            send_job(self.celery, job)
        return epoch

    def publish_after_commit(
        self, jobs: Sequence[Job | enqueue.QueuedJob], *, defer_mark: bool = False
    ) -> bool:
        """Publish freshly committed queued jobs; on a broker fault leave them to the relay.

        Their published marks are written with the next batch; a first mark after a quiet
        spell is written at once, unless `defer_mark` (a worker queueing the next stage:
        the mark only has to beat the relay's grace, and writing it inline would add a
        transaction to every stage of a document that runs alone)."""
        if not jobs or time.monotonic() < self._down_until:
            return False
        try:
            epoch = self.publish(jobs)
        except BROKER_ERRORS:
            self._down_until = time.monotonic() + 2.0
            self.forget_epoch()
            log.warning("broker unreachable; job %s left to the outbox relay", jobs[0].id)
            return False
        for job in jobs:
            self._mark_published(job.id, epoch, defer=defer_mark)
        return True

    def _mark_published(self, job_id: uuid.UUID, epoch: str, *, defer: bool = False) -> None:
        with self._lock:
            self._pending.append((job_id, epoch))
            due = not defer and time.monotonic() - self._last_mark >= self.mark_interval
            if not due and self._timer is None:
                self._timer = threading.Timer(self.mark_interval, self.flush_marks)
                self._timer.daemon = True
                self._timer.start()
        if due:
            self.flush_marks()

    def flush_marks(self) -> None:
        """Write every pending published mark now, one UPDATE per broker epoch."""
        with self._lock:
            batch, self._pending = self._pending, []
            self._last_mark = time.monotonic()
            self._timer = None
        by_epoch: dict[str, list[uuid.UUID]] = {}
        for job_id, epoch in batch:
            by_epoch.setdefault(epoch, []).append(job_id)
        if by_epoch:
            with self.db.session() as session:
                for epoch, ids in by_epoch.items():
                    outbox.mark_published(session, ids, epoch)

    def relay(self, *, grace: timedelta, stale_after: timedelta) -> int:
        """Publish every job the broker does not hold. Returns how many went out.

        The epoch is read afresh: a cached one from before a Redis restart would make
        every job marked under the new server look lost, and send each again."""
        epoch = self.epoch(fresh=True)  # raises while the broker is down: beat tries again
        published = 0
        with self._forgetting_on_fault(), self.db.session() as session:
            for job in outbox.jobs_to_publish(
                session, current_epoch=epoch, grace=grace, stale_after=stale_after
            ):
                self.republish(session, job, epoch)
                published += 1
        return published

    @contextmanager
    def _forgetting_on_fault(self) -> Iterator[None]:
        """A broker fault may mean a restart: the next publish reads the epoch again."""
        try:
            yield
        except BROKER_ERRORS:
            self.forget_epoch()
            raise

    def republish(self, session: Session, job: Job, epoch: str) -> None:
        """Send `job` again, and record that it went."""
        send_job(self.celery, job)
        if job.status == "retrying":
            job.status = "queued"
        outbox.mark_published(session, [job.id], epoch)

    def reclaim(self, *, stale_after: timedelta) -> int:
        """Send again each stage whose worker stopped heartbeating; dead-letter the hopeless."""
        epoch = self.epoch(fresh=True)
        reclaimed = 0
        with self._forgetting_on_fault(), self.db.session() as session:
            for job in outbox.stale_running_jobs(session, stale_after=stale_after):
                if completion.reclaim_or_dead_letter(session, job):
                    self.republish(session, job, epoch)
                    reclaimed += 1
        return reclaimed
