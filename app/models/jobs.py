"""The pipeline's runs: one job row per stage of a shell file, and each failed attempt."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.config import DEFAULT_STAGE_MAX_RETRIES
from app.models.base import Base, in_values, utcnow_sql

JOB_STATUSES = (
    "waiting",  # a later stage of a chain: the earlier stage publishes it
    "queued",  # to be published, or published and not yet started
    "running",
    "retrying",  # failed transiently; the broker holds it until its countdown ends
    "completed",
    "failed",
    "dead_letter",  # exhausted its attempts by worker loss or stale heartbeats
    "cancelled",
)
JOB_LANES = ("fast", "ai")
JOB_CATEGORIES = ("critical", "high_priority", "standard", "background", "maintenance")


class Job(Base):
    """One stage run of one shell file: the outbox record and the stage's live state."""

    __tablename__ = "job_queue"
    __table_args__ = (
        CheckConstraint(in_values("status", JOB_STATUSES), name="status"),
        CheckConstraint(in_values("job_lane", JOB_LANES), name="job_lane"),
        CheckConstraint(in_values("job_category", JOB_CATEGORIES), name="job_category"),
        CheckConstraint("priority BETWEEN 1 AND 10", name="priority"),
        UniqueConstraint("shell_file_id", "run_number", "job_type"),
        Index("idx_job_queue_status_scheduled", "status", "scheduled_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    job_type: Mapped[str] = mapped_column(String(64))
    job_lane: Mapped[str] = mapped_column(String(8))
    job_name: Mapped[str] = mapped_column(String(128))
    job_category: Mapped[str] = mapped_column(String(16), default="standard")
    job_payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    priority: Mapped[int] = mapped_column(Integer, default=5)
    stage_index: Mapped[int] = mapped_column(Integer, default=0)
    run_number: Mapped[int] = mapped_column(Integer, default=1)
    scheduled_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())
    published_at: Mapped[datetime | None]
    # The Redis server run id a message was published to: a restarted Redis has
    # lost it, and the relay publishes it again.
    broker_epoch: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_retries: Mapped[int] = mapped_column(Integer, default=DEFAULT_STAGE_MAX_RETRIES)
    retry_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    worker_id: Mapped[str | None] = mapped_column(String(255))
    celery_task_id: Mapped[str | None] = mapped_column(String(64))
    dead_letter_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # Looked up by the unique index on (shell_file_id, run_number, job_type).
    shell_file_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("shell_files.id", ondelete="CASCADE")
    )
    patient_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_profiles.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())
    updated_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql(), onupdate=utcnow_sql())


class ProcessingError(Base):
    """One failed attempt of one stage. The message never carries document content."""

    __tablename__ = "processing_errors"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    shell_file_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shell_files.id", ondelete="CASCADE"), index=True
    )
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("job_queue.id", ondelete="SET NULL")
    )
    stage: Mapped[str] = mapped_column(String(64))
    error_type: Mapped[str] = mapped_column(String(64))
    error_message: Mapped[str] = mapped_column(Text)
    retry_count: Mapped[int] = mapped_column(Integer, default=0)
    next_retry_at: Mapped[datetime | None]
    is_final: Mapped[bool] = mapped_column(Boolean, default=False)
    worker_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())
