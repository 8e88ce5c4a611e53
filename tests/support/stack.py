"""A whole service of one test's own: its database, its Redis, its workers and beat.

Fault tests stop workers, Redis or PostgreSQL on purpose. Doing that to the session's
services would disturb every other test, so they build a `Stack` instead. Documents
enter it the way the outbox promises they can: committed rows that the stack's beat
(`relay_outbox`) publishes, with scripted stages (`tests.support.stage_tasks`) whose
plans sit in the stack's Redis.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import redis
import sqlalchemy.exc
from sqlalchemy import func, select

from app.db import Database
from app.models import Job, ProcessingError, ShellFile
from app.runs import enqueue
from tests.support.factories import make_account, make_profile, make_shell_file
from tests.support.pipeline import TERMINAL, Run, scripted_stages
from tests.support.services import RedisServer, migrate, service_environment
from tests.support.workers import WorkerProcess, start_beat, start_worker


class Stack:
    def __init__(self, workdir: Path, database_url: str, **settings: str) -> None:
        self.workdir = workdir
        self.database_url = database_url
        self.redis_server = RedisServer(workdir / "redis")
        self.env = {
            **service_environment(database_url, self.redis_server.url, workdir / "data"),
            **settings,
        }
        self.db = Database(database_url, pool_size=2)
        self.processes: list[WorkerProcess] = []
        self._names = 0

    def start(self) -> Stack:
        self.redis_server.start()
        migrate(self.database_url)
        self.processes.append(start_beat(self.env, self.workdir / "beat"))
        return self

    def worker(self, *, queues: str = "fast,ai", concurrency: int = 1) -> WorkerProcess:
        self._names += 1
        handle = start_worker(
            self.env,
            self.workdir / "workers",
            name=f"w{self._names}",
            queues=queues,
            concurrency=concurrency,
        )
        self.processes.append(handle)
        return handle

    def close(self) -> None:
        for process in self.processes:
            process.stop(timeout=15)
        self.redis_server.stop()
        self.db.engine.dispose()

    @property
    def redis(self) -> redis.Redis:
        return self.redis_server.client()

    def scripted_run(self, plans: Sequence[tuple[str, str]]) -> Run:
        """Commit a shell file whose run is the scripted stages [(lane, plan), …]. Nothing
        is published here: the stack's beat relays the committed jobs to the broker."""
        with self.db.session() as session:
            account, token = make_account(session)
            profile = make_profile(session, account)
            shell_file = make_shell_file(
                session,
                profile.id,
                account.id,
                original_filename="scripted.txt",
                mime_type="text/plain",
            )
            stages = scripted_stages([lane for lane, _ in plans])
            enqueue.enqueue_pipeline(session, shell_file, stages=stages, max_retries=3)
            run = enqueue.run_jobs(session, shell_file.id, shell_file.run_number)
            job_ids = [job.id for job in run]
            for job_id, (_, plan) in zip(job_ids, plans, strict=True):
                self.redis.set(f"plan:{job_id}", plan)
        return Run(shell_file.id, job_ids, token)

    def statuses(self, shell_file_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        with self.db.session() as session:
            rows = session.execute(
                select(ShellFile.id, ShellFile.status).where(ShellFile.id.in_(shell_file_ids))
            )
            return {row.id: row.status for row in rows}

    def wait_until_settled(
        self, shell_file_ids: Sequence[uuid.UUID], timeout: float
    ) -> dict[uuid.UUID, str]:
        """Wait until every shell file is terminal; return their statuses either way."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                statuses = self.statuses(shell_file_ids)
            except sqlalchemy.exc.OperationalError:  # the test stopped the database; wait
                statuses = {}
            if statuses and all(status in TERMINAL for status in statuses.values()):
                return statuses
            if time.monotonic() > deadline:
                return statuses
            time.sleep(0.2)

    def jobs(self, shell_file_id: uuid.UUID) -> list[Job]:
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(Job).where(Job.shell_file_id == shell_file_id).order_by(Job.stage_index)
                )
            )

    def error_types(self, shell_file_ids: Sequence[uuid.UUID]) -> dict[str, int]:
        with self.db.session() as session:
            rows = session.execute(
                select(ProcessingError.error_type, func.count())
                .where(ProcessingError.shell_file_id.in_(shell_file_ids))
                .group_by(ProcessingError.error_type)
            )
            return {row[0]: row[1] for row in rows}

    def runs_of(self, job_id: uuid.UUID) -> int:
        """How many times a scripted stage's work ran (`ran:<job>` in the stack's Redis)."""
        return int(self.redis.llen(f"ran:{job_id}"))
