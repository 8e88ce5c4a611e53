"""Uploaded documents: shell files, their bytes in the database, and the legacy import's map."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, in_values, utcnow_sql

SHELL_FILE_STATUSES = (
    "uploaded",
    "processing",
    "completed",
    "failed",
    "quarantined",
    "cancelled",
    "archived",
)
#: A document is in flight while its run is under way: it counts towards its profile's
#: fair share, it is what a cancel stops, and a partial index keeps it at hand.
IN_FLIGHT_STATUSES = ("uploaded", "processing")


class ShellFile(Base):
    """One uploaded document and the summary of its processing."""

    __tablename__ = "shell_files"
    __table_args__ = (
        CheckConstraint(in_values("status", SHELL_FILE_STATUSES), name="status"),
        CheckConstraint("processing_priority BETWEEN 1 AND 10", name="priority"),
        UniqueConstraint("uploaded_by", "idempotency_key"),
        Index("idx_shell_files_patient", "patient_id", "created_at"),
        Index("idx_shell_files_status", "status"),
        Index("idx_shell_files_type", "mime_type"),
        Index(
            "idx_shell_files_processing",
            "updated_at",
            postgresql_where=text(in_values("status", IN_FLIGHT_STATUSES)),
            sqlite_where=text(in_values("status", IN_FLIGHT_STATUSES)),
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
