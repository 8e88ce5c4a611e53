"""What the stages write about a shell file.

The fast lane: the security verdict, OCR pages and page layouts. The AI lane: Pass 1
entities, Pass 2 records and the document's kind and dates, the Pass 3 narrative, and
what each AI stage cost.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Computed,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow_sql


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


#: How a page's text becomes search terms on PostgreSQL: the `english` configuration, whose
#: Snowball stemmer lets "infections" find "infection" and drops stop words; drug names,
#: codes and numbers pass through as they are. Queries use the same configuration.
SEARCH_CONFIG = "english"
SEARCH_VECTOR_SQL = f"to_tsvector('{SEARCH_CONFIG}'::regconfig, text)"


class OcrPage(Base):
    """One page as OCR (or the PDF's text layer) read it: words with boxes and confidences.

    `words` holds [text, x0, y0, x1, y1, confidence] in the page's `unit`, top-left origin.

    Full-text search (`app.search`) reads `search_vector` on PostgreSQL: a STORED generated
    column, so the database keeps it in step with `text` on every insert and no code path
    can forget it; a GIN index serves `@@`. On SQLite (the embedded default) the column
    does not exist: the FTS5 table `ocr_pages_fts`, kept by triggers, serves instead
    (migration 0011). The column is deferred, so no ORM load ever selects it.
    """

    __tablename__ = "ocr_pages"
    __table_args__ = (
        UniqueConstraint("shell_file_id", "page_number"),
        Index("idx_ocr_pages_search", "search_vector", postgresql_using="gin"),
    )
    # Fetch nothing back after an insert: `search_vector` is not there on SQLite.
    __mapper_args__ = {"eager_defaults": False}  # noqa: RUF012 - read by SQLAlchemy

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
    search_vector: Mapped[Any] = mapped_column(
        TSVECTOR(), Computed(SEARCH_VECTOR_SQL, persisted=True), deferred=True
    )


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


class RecordMention(Base):
    """One document's record as it enters the profile's record (`app.pipeline.record`):
    the entry it merges into (`section`, `merge_key`) and the mention itself in `data`."""

    __tablename__ = "record_mentions"
    __table_args__ = (
        Index("idx_record_mentions_entry", "patient_id", "section", "merge_key"),
        Index("idx_record_mentions_shell_file", "shell_file_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_profiles.id", ondelete="CASCADE")
    )
    shell_file_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shell_files.id", ondelete="CASCADE")
    )
    section: Mapped[str] = mapped_column(String(16))
    merge_key: Mapped[str] = mapped_column(String(300))
    data: Mapped[dict[str, Any]] = mapped_column()


class RecordEntry(Base):
    """One entry of a profile's merged record, as the API lists it (`summary`), with what
    it keeps to take a new document's mentions without reading its old ones (`state`,
    `app.pipeline.record.fold`). `detail` is no longer written (revision 0014): a test's
    series are merged from its mentions when read."""

    __tablename__ = "record_entries"

    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_profiles.id", ondelete="CASCADE"), primary_key=True
    )
    section: Mapped[str] = mapped_column(String(16), primary_key=True)
    merge_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    display: Mapped[str] = mapped_column(String(255))
    summary: Mapped[dict[str, Any]] = mapped_column()
    detail: Mapped[dict[str, Any] | None] = mapped_column()
    state: Mapped[dict[str, Any] | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())
