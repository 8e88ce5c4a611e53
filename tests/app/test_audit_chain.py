"""The audit log's hash chain: sealed rows verify; an edited or deleted row is named."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.audit import log_audit_event
from app.models import AuditLog


@pytest.fixture
def sealed(app, db_session: Session) -> list[int]:
    patient = uuid.uuid4()
    for reason in ("view document status", "download original document", "list documents"):
        log_audit_event(
            db_session,
            operation="read",
            table_name="shell_files",
            record_id=uuid.uuid4(),
            patient_id=patient,
            reason=reason,
        )
    db_session.commit()
    result = app.test_cli_runner().invoke(args=["audit", "seal", "--settle", "0"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["sealed"] >= 3
    return list(db_session.scalars(select(AuditLog.id).where(AuditLog.patient_id == patient)))


def verify(app) -> tuple[int, dict]:
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    return result.exit_code, json.loads(result.output)


def tamper(db_session: Session, statement: str, audit_id: int) -> None:
    # Only a superuser can lift the append-only guard; the test transaction rolls it back.
    db_session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
    db_session.execute(text(statement), {"id": audit_id})
    db_session.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))


def test_a_sealed_log_verifies(app, sealed) -> None:
    code, report = verify(app)
    assert code == 0 and report["ok"] and report["checked"] >= len(sealed)


def test_an_edited_row_is_named(app, db_session: Session, sealed) -> None:
    tamper(db_session, "UPDATE audit_log SET reason = 'nothing to see' WHERE id = :id", sealed[1])

    code, report = verify(app)

    assert code == 1 and not report["ok"]
    assert (report["first_broken"], report["reason"]) == (sealed[1], "row or seal altered")


def test_a_deleted_row_is_named(app, db_session: Session, sealed) -> None:
    tamper(db_session, "DELETE FROM audit_log WHERE id = :id", sealed[0])

    code, report = verify(app)

    assert code == 1 and (report["first_broken"], report["reason"]) == (sealed[0], "row deleted")


def test_sealing_twice_adds_nothing(app, db_session: Session, sealed) -> None:
    count = db_session.scalar(select(func.count()).select_from(AuditLog))
    result = app.test_cli_runner().invoke(args=["audit", "seal", "--settle", "0"])
    assert json.loads(result.output)["sealed"] == 0
    assert db_session.scalar(select(func.count()).select_from(AuditLog)) == count
