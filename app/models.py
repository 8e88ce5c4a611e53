"""The database schema: accounts, profiles and their sharing, shell files, jobs, errors, audit.

Types are portable between PostgreSQL (production) and SQLite (the embedded
default): UUID primary keys, JSON that becomes JSONB on PostgreSQL, and
timezone-aware timestamps. Alembic revisions in `migrations/` create these tables;
this module is their single description.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JSONType = JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PROFILE_TYPES = ("self", "child", "pet", "dependent")
# Ordered weakest to strongest: a check for a level accepts any level after it.
PERMISSION_LEVELS = ("read_only", "read_write", "full_access", "owner")
SHELL_FILE_STATUSES = (
    "uploaded",
    "processing",
    "completed",
    "failed",
    "quarantined",
    "cancelled",
    "archived",
)
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


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def table_of(model: type[Base]) -> Table:
    """A mapped class's table, for Core statements on hot paths (no ORM bookkeeping)."""
    return cast(Table, model.__table__)


def utcnow_sql() -> Any:
    # CURRENT_TIMESTAMP, unlike now(), exists in both PostgreSQL and SQLite.
    return func.current_timestamp()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: DateTime(timezone=True),
        uuid.UUID: Uuid(),
        dict[str, Any]: JSONType,
    }


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())


class ApiToken(Base):
    """A bearer token. Only its SHA-256 is stored: tokens are long random strings,
    so a fast hash is enough and keeps authentication cheap on every request."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class UserProfile(Base):
    """A person (or pet) whose records are kept. `id` is the patient id everywhere."""

    __tablename__ = "user_profiles"
    __table_args__ = (CheckConstraint(_in("profile_type", PROFILE_TYPES), name="profile_type"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    account_owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    profile_type: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())


class ProfilePermission(Base):
    """A grant of one profile to another account, until revoked or expired."""

    __tablename__ = "profile_permissions"
    __table_args__ = (
        CheckConstraint(_in("permission_level", PERMISSION_LEVELS[:-1]), name="permission_level"),
        Index(
            "uq_profile_permissions_active",
            "profile_id",
            "account_id",
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
            sqlite_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    profile_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_profiles.id", ondelete="CASCADE")
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    permission_level: Mapped[str] = mapped_column(String(16))
    granted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL")
    )
    granted_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ShellFile(Base):
    """One uploaded document and the summary of its processing."""

    __tablename__ = "shell_files"
    __table_args__ = (
        CheckConstraint(_in("status", SHELL_FILE_STATUSES), name="status"),
        CheckConstraint("processing_priority BETWEEN 1 AND 10", name="priority"),
        UniqueConstraint("uploaded_by", "idempotency_key"),
        Index("idx_shell_files_patient", "patient_id", "created_at"),
        Index("idx_shell_files_status", "status"),
        Index("idx_shell_files_type", "mime_type"),
        Index(
            "idx_shell_files_processing",
            "updated_at",
            postgresql_where=text("status IN ('uploaded', 'processing')"),
            sqlite_where=text("status IN ('uploaded', 'processing')"),
        ),
        # Identical bytes into one profile are one document.
        Index(
            "uq_shell_files_patient_sha256",
            "patient_id",
            "sha256",
            unique=True,
            postgresql_where=text("status <> 'archived'"),
            sqlite_where=text("status <> 'archived'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_profiles.id", ondelete="CASCADE")
    )
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL")
    )
    original_filename: Mapped[str] = mapped_column(String(255))
    mime_type: Mapped[str] = mapped_column(String(100))
    file_size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="uploaded")
    run_number: Mapped[int] = mapped_column(Integer, default=1)
    page_count: Mapped[int | None] = mapped_column(Integer)
    extracted_text: Mapped[str | None] = mapped_column(Text)
    ocr_average_confidence: Mapped[float | None]
    ai_synthesized_summary: Mapped[str | None] = mapped_column(Text)
    processing_priority: Mapped[int] = mapped_column(Integer, default=5)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    processing_started_at: Mapped[datetime | None]
    processing_completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())
    updated_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql(), onupdate=utcnow_sql())


class BlobChunk(Base):
    """A slice of an uploaded file's bytes, when blobs live in the database."""

    __tablename__ = "blob_chunks"

    storage_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Job(Base):
    """One stage run of one shell file: the outbox record and the stage's live state."""

    __tablename__ = "job_queue"
    __table_args__ = (
        CheckConstraint(_in("status", JOB_STATUSES), name="status"),
        CheckConstraint(_in("job_lane", JOB_LANES), name="job_lane"),
        CheckConstraint(_in("job_category", JOB_CATEGORIES), name="job_category"),
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
    max_retries: Mapped[int] = mapped_column(Integer, default=6)
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


class AuditLog(Base):
    """Who touched which patient's data, when and why. Append-only: PostgreSQL refuses
    UPDATE and DELETE on it, and it has no foreign keys so it outlives what it records."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("idx_audit_log_patient", "patient_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    occurred_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())
    actor_type: Mapped[str] = mapped_column(String(16))  # account | system
    account_id: Mapped[uuid.UUID | None]
    patient_id: Mapped[uuid.UUID | None]
    table_name: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str | None] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(16))  # create | read | update | delete
    reason: Mapped[str] = mapped_column(String(255))
    compliance_category: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(64))
    client_address: Mapped[str | None] = mapped_column(String(64))


class SecurityScan(Base):
    """The security stage's verdict on an accepted file (refusals are error rows)."""

    __tablename__ = "security_scans"

    shell_file_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shell_files.id", ondelete="CASCADE"), primary_key=True
    )
    detected_mime: Mapped[str] = mapped_column(String(100))
    page_count: Mapped[int] = mapped_column(Integer)
    repaired: Mapped[bool] = mapped_column(Boolean, default=False)
    # The qpdf-repaired copy of a damaged PDF; later stages read it instead.
    repaired_storage_key: Mapped[str | None] = mapped_column(String(255))
    checks: Mapped[dict[str, Any]] = mapped_column(default=dict)
    scanned_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())


class OcrPage(Base):
    """One page as OCR (or the PDF's text layer) read it: words with boxes and confidences.

    `words` holds [text, x0, y0, x1, y1, confidence] in the page's `unit`, top-left origin.
    """

    __tablename__ = "ocr_pages"
    __table_args__ = (UniqueConstraint("shell_file_id", "page_number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    shell_file_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shell_files.id", ondelete="CASCADE")
    )
    page_number: Mapped[int] = mapped_column(Integer)
    width: Mapped[float]
    height: Mapped[float]
    unit: Mapped[str] = mapped_column(String(8))
    engine: Mapped[str] = mapped_column(String(32))
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text)
    mean_confidence: Mapped[float | None]
    word_count: Mapped[int] = mapped_column(Integer)
    is_empty: Mapped[bool] = mapped_column(Boolean)
    words: Mapped[dict[str, Any]] = mapped_column()  # {"words": [[text, x0, y0, x1, y1, conf]]}
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())


class PageLayoutRow(Base):
    """One page's lines and blocks in reading order; boxes normalised to 0-1 of the page."""

    __tablename__ = "page_layouts"
    __table_args__ = (UniqueConstraint("shell_file_id", "page_number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    shell_file_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shell_files.id", ondelete="CASCADE")
    )
    page_number: Mapped[int] = mapped_column(Integer)
    width: Mapped[float]
    height: Mapped[float]
    columns: Mapped[int] = mapped_column(Integer, default=1)
    text: Mapped[str] = mapped_column(Text)
    layout: Mapped[dict[str, Any]] = mapped_column()  # {"lines": [...], "blocks": [...]}
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())


class ClinicalEntity(Base):
    """A Pass 1 mention: its type, text, place in the document text and on the page."""

    __tablename__ = "clinical_entities"
    __table_args__ = (
        UniqueConstraint("shell_file_id", "entity_key"),
        Index("idx_clinical_entities_patient", "patient_id", "entity_type"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    shell_file_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shell_files.id", ondelete="CASCADE")
    )
    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_profiles.id", ondelete="CASCADE")
    )
    entity_key: Mapped[str] = mapped_column(String(16))  # "e1", "e2", … in text order
    entity_type: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    start_offset: Mapped[int] = mapped_column(Integer)
    end_offset: Mapped[int] = mapped_column(Integer)
    page: Mapped[int | None] = mapped_column(Integer)
    box: Mapped[dict[str, Any] | None] = mapped_column()  # {"box": [x0, y0, x1, y1]} 0-1
    confidence: Mapped[float]
    negated: Mapped[bool] = mapped_column(Boolean, default=False)
    historical: Mapped[bool] = mapped_column(Boolean, default=False)
    family: Mapped[bool] = mapped_column(Boolean, default=False)
    hypothetical: Mapped[bool] = mapped_column(Boolean, default=False)
    section: Mapped[str | None] = mapped_column(String(64))
    found_by: Mapped[str | None] = mapped_column(String(16))  # lexicon, vocabulary, pattern, ...
    ocr_confidence: Mapped[float | None]  # 0-1, of the mention's words; None without OCR


class ClinicalRecord(Base):
    """A Pass 2 record (medication, lab result, vital, condition, allergy, immunization,
    procedure) with its normalised fields in `data`, citing the entities it came from."""

    __tablename__ = "clinical_records"
    __table_args__ = (
        UniqueConstraint("shell_file_id", "record_key"),
        Index("idx_clinical_records_patient", "patient_id", "record_type"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    shell_file_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shell_files.id", ondelete="CASCADE")
    )
    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_profiles.id", ondelete="CASCADE")
    )
    record_key: Mapped[str] = mapped_column(String(16))  # "m1", "l2", …
    record_type: Mapped[str] = mapped_column(String(32))
    display: Mapped[str] = mapped_column(String(255))
    code_system: Mapped[str | None] = mapped_column(String(64))
    code: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column()
    entity_keys: Mapped[dict[str, Any]] = mapped_column()  # {"entities": ["e1", …]}


class ClinicalDocument(Base):
    """What Pass 2 read about the document as a whole: its kind and dates."""

    __tablename__ = "clinical_documents"

    shell_file_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shell_files.id", ondelete="CASCADE"), primary_key=True
    )
    document_kind: Mapped[str | None] = mapped_column(String(32))
    document_date: Mapped[str | None] = mapped_column(String(10))
    service_dates: Mapped[dict[str, Any]] = mapped_column()  # {"dates": ["2024-03-12", …]}


class Narrative(Base):
    """Pass 3: a short account of the document whose every statement cites records."""

    __tablename__ = "narratives"

    shell_file_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shell_files.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    document_date: Mapped[str | None] = mapped_column(String(10))
    summary: Mapped[str] = mapped_column(Text)
    statements: Mapped[dict[str, Any]] = mapped_column()  # {"statements": [{text, record_ids}]}
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())


class AiUsage(Base):
    """What each AI stage of a document cost: requests, tokens, estimated dollars."""

    __tablename__ = "ai_usage"
    __table_args__ = (UniqueConstraint("shell_file_id", "stage"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    shell_file_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shell_files.id", ondelete="CASCADE")
    )
    stage: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(128))
    requests: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(default=0.0)
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())


class AuditSeal(Base):
    """The audit log's hash chain: each sealed audit row's SHA-256, chained to the one
    before it. Kept beside `audit_log` (which stays untouched and append-only); rows are
    sealed by beat a minute after they are written, in id order."""

    __tablename__ = "audit_chain"

    audit_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())


class LegacyDocumentImport(Base):
    """Where one row of the legacy `documents` table went (`app.ops.legacy`): the import's
    idempotency key, one row per legacy id. `duplicate` marks a legacy document whose bytes
    were already in the profile, so it maps onto that shell file. The row outlives its
    shell file (SET NULL), so a document its owner deleted is never imported again."""

    __tablename__ = "legacy_document_imports"

    legacy_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    shell_file_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("shell_files.id", ondelete="SET NULL"), index=True
    )
    account_id: Mapped[uuid.UUID]
    patient_id: Mapped[uuid.UUID]
    sha256: Mapped[str] = mapped_column(String(64))
    file_size_bytes: Mapped[int] = mapped_column(BigInteger)
    duplicate: Mapped[bool] = mapped_column(Boolean, default=False)
    imported_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())
