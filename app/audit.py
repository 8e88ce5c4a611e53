"""The audit trail: every read and write of patient data leaves one row.

`log_audit_event` writes the row in the caller's transaction, so it commits with the
change it records or not at all. A read is audited before its data leaves the
server: views commit the audit row first, and if that fails the reader gets an
error, never unaudited data (fail closed).
"""

from __future__ import annotations

import uuid

from flask import g, has_request_context, request
from sqlalchemy import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.models import AuditLog, table_of

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
    if operation not in OPERATIONS:
        raise ValueError(f"unknown audit operation {operation!r}")
    request_id = client_address = None
    if has_request_context():
        account_id = account_id or getattr(g, "account_id", None)
        request_id = getattr(g, "request_id", None)
        client_address = request.remote_addr
    statement = insert(table_of(AuditLog)).values(
        actor_type="account" if account_id else "system",
        account_id=account_id,
        patient_id=patient_id,
        table_name=table_name,
        record_id=str(record_id) if record_id is not None else None,
        operation=operation,
        reason=reason,
        compliance_category=compliance_category,
        request_id=request_id,
        client_address=client_address,
    )
    try:
        session.connection().execute(statement)
    except SQLAlchemyError as exc:
        raise AuditUnavailable("the access could not be audited") from exc


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
