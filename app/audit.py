"""The audit trail: every read and write of patient data leaves one row.

`log_audit_event` writes the row in the caller's transaction, so it commits with the
change it records or not at all. A read is audited before its data leaves the
server: views commit the audit row first, and if that fails the reader gets an
error, never unaudited data (fail closed).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.models import AuditLog, AuditSeal, table_of

OPERATIONS = ("create", "read", "update", "delete")


class AuditUnavailable(Exception):
    """An audit row could not be written, so the access it would record is refused."""


def log_audit_event(
    session: Session,
    *,
    operation: str,
    table_name: str,
    record_id: uuid.UUID | str | None,
    patient_id: uuid.UUID | None,
    reason: str,
    account_id: uuid.UUID | None = None,
    compliance_category: str = "phi_access",
) -> None:
    """Record one access in the caller's transaction.

    Inside a request the acting account, request id and client address are taken
    from the request; outside one (workers, commands) the actor is the system.
    Raises `AuditUnavailable` if the row cannot be written: the access is then refused.
    """
    row = audit_row(
        operation=operation,
        table_name=table_name,
        record_id=record_id,
        patient_id=patient_id,
        reason=reason,
        account_id=account_id,
        compliance_category=compliance_category,
    )
    try:
        session.connection().execute(insert(table_of(AuditLog)), [row])
    except SQLAlchemyError as exc:
        raise AuditUnavailable("the access could not be audited") from exc


def audit_row(
    *,
    operation: str,
    table_name: str,
    record_id: uuid.UUID | str | None,
    patient_id: uuid.UUID | None,
    reason: str,
    account_id: uuid.UUID | None = None,
    compliance_category: str = "phi_access",
) -> dict[str, Any]:
    """The `audit_log` row `log_audit_event` writes, for a statement that writes it along
    with the change it records (see `app.documents.upload`)."""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown audit operation {operation!r}")
    request_id = client_address = None
    if has_request_context():
        account_id = account_id or getattr(g, "account_id", None)
        request_id = getattr(g, "request_id", None)
        client_address = request.remote_addr
    return {
        "actor_type": "account" if account_id else "system",
        "account_id": account_id,
        "patient_id": patient_id,
        "table_name": table_name,
        "record_id": str(record_id) if record_id is not None else None,
        "operation": operation,
        "reason": reason,
        "compliance_category": compliance_category,
        "request_id": request_id,
        "client_address": client_address,
    }


def audit_document(
    session: Session,
    shell_file: Any,
    *,
    operation: str,
    reason: str,
    compliance_category: str = "phi_access",
) -> None:
    """Record an access to one shell file (a document) in the caller's transaction."""
    log_audit_event(
        session,
        operation=operation,
        table_name="shell_files",
        record_id=shell_file.id,
        patient_id=shell_file.patient_id,
        reason=reason,
        compliance_category=compliance_category,
    )


def commit_audited(session: Session) -> None:
    """Commit the caller's audit rows before any data is returned; fail closed."""
    try:
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        raise AuditUnavailable("the access could not be audited") from exc


def audit_read(
    session: Session,
    *,
    table_name: str,
    record_id: uuid.UUID | str | None,
    patient_id: uuid.UUID,
    reason: str,
) -> None:
    """Record one read and commit it before its data is returned."""
    log_audit_event(
        session,
        operation="read",
        table_name=table_name,
        record_id=record_id,
        patient_id=patient_id,
        reason=reason,
    )
    commit_audited(session)


# The hash chain. Each audit row, once settled, is sealed: its SHA-256 over the previous
# seal and the row's canonical form. Editing or deleting a sealed row, or a seal, breaks
# the chain at that row, and `verify_chain` names the first such row.

GENESIS = "0" * 64
_FIELDS = (
    "id",
    "occurred_at",
    "actor_type",
    "account_id",
    "patient_id",
    "table_name",
    "record_id",
    "operation",
    "reason",
    "compliance_category",
    "request_id",
    "client_address",
)


def _canonical(row: AuditLog) -> bytes:
    values: dict[str, object] = {}
    for name in _FIELDS:
        value = getattr(row, name)
        if isinstance(value, datetime):
            value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
            value = value.isoformat(timespec="microseconds")
        values[name] = None if value is None else str(value)
    return json.dumps(values, sort_keys=True, separators=(",", ":")).encode()


def seal_hash(prev_hash: str, row: AuditLog) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + _canonical(row)).hexdigest()


def seal_pending(session: Session, *, settle: timedelta, limit: int = 5000) -> int:
    """Seal audit rows older than `settle` (their transactions are long over), in id
    order, after the last sealed one. Returns how many were sealed. One sealer at a time:
    on PostgreSQL a transaction-level advisory lock keeps a second one out."""
    if session.get_bind().dialect.name == "postgresql":
        got = session.execute(text("SELECT pg_try_advisory_xact_lock(7261544)")).scalar()
        if not got:
            return 0
    last = session.execute(
        select(AuditSeal.audit_id, AuditSeal.row_hash).order_by(AuditSeal.audit_id.desc()).limit(1)
    ).first()
    last_id, prev = (last.audit_id, last.row_hash) if last else (0, GENESIS)
    cutoff = datetime.now(UTC) - settle
    rows = session.scalars(
        select(AuditLog)
        .where(AuditLog.id > last_id, AuditLog.occurred_at <= cutoff)
        .order_by(AuditLog.id)
        .limit(limit)
    ).all()
    for row in rows:
        row_hash = seal_hash(prev, row)
        session.add(AuditSeal(audit_id=row.id, prev_hash=prev, row_hash=row_hash))
        prev = row_hash
    return len(rows)


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_broken: int | None = None
    reason: str | None = None


def verify_chain(session: Session) -> ChainReport:
    """Walk the sealed part of the audit log; name the first row that does not hold."""
    seals = session.execute(
        select(AuditSeal.audit_id, AuditSeal.prev_hash, AuditSeal.row_hash).order_by(
            AuditSeal.audit_id
        )
    ).all()
    sealed_ids = [seal.audit_id for seal in seals]
    rows = {
        row.id: row
        for row in session.scalars(
            select(AuditLog).where(AuditLog.id <= (sealed_ids[-1] if sealed_ids else 0))
        )
    }
    prev = GENESIS
    for seal in seals:
        row = rows.pop(seal.audit_id, None)
        if row is None:
            return ChainReport(False, len(sealed_ids), seal.audit_id, "row deleted")
        if seal.prev_hash != prev or seal_hash(prev, row) != seal.row_hash:
            return ChainReport(False, len(sealed_ids), seal.audit_id, "row or seal altered")
        prev = seal.row_hash
    if rows:  # rows among the sealed ones that were never sealed: inserted out of order
        return ChainReport(False, len(sealed_ids), min(rows), "row not in the chain")
    return ChainReport(True, len(sealed_ids))
