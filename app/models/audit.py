"""The audit trail: who touched which patient's data, and the hash chain that seals it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow_sql

#: The tables the application may only read and append to.
AUDIT_TABLES = ("audit_log", "audit_chain")


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


class AuditSeal(Base):
    """The audit log's chain: each sealed audit row's HMAC-SHA256 (keyed with
    `AUDIT_HMAC_KEY`, which the database never holds), chained to the one before it.
    Seals written before revision 0012 are plain SHA-256 (`keyed` false); the first keyed
    seal covers them. Kept beside `audit_log` (which stays untouched and append-only);
    rows are sealed by beat a minute after they are written, in id order."""

    __tablename__ = "audit_chain"

    audit_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())
    keyed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("false"))
