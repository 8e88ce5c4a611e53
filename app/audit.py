"""The audit trail: every read and write of patient data leaves one row.

`log_audit_event` writes the row in the caller's transaction, so it commits with the
change it records or not at all. A read is audited before its data leaves the
server: views commit the audit row first, and if that fails the reader gets an
error, never unaudited data (fail closed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.config import ConfigError, Settings
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


# The chain. Each audit row, once settled, is sealed: an HMAC-SHA256 over the previous
# seal and the row's canonical form, keyed with AUDIT_HMAC_KEY, which lives outside the
# database. Editing or deleting a sealed row or a seal breaks the chain at that row, and
# without the key nobody can seal it again; `verify_chain` names the first such row.
# Seals made before revision 0012 are plain SHA-256 (`keyed` false): the first keyed
# seal covers them through its `prev_hash`, and no unkeyed seal may follow a keyed one.
# Deleting the newest rows with their seals leaves a shorter chain that holds: a signed
# head (`chain_head`), kept elsewhere, says how far the chain reached.

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
_HEAD_FIELDS = ("seq", "audit_id", "mac", "at")


def chain_key(settings: Settings) -> bytes:
    """The chain's key: `AUDIT_HMAC_KEY`; under the embedded default (SQLite) without it,
    a key generated once into `DATA_DIR/audit_hmac_key` (mode 0600 from its creation).
    Raises ConfigError for PostgreSQL without the key: a key kept beside one machine's
    data would differ between machines."""
    if settings.audit_hmac_key:
        return settings.audit_hmac_key.encode()
    if not settings.is_sqlite:
        raise ConfigError("AUDIT_HMAC_KEY must be set when DATABASE_URL is PostgreSQL")
    path = settings.data_dir / "audit_hmac_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            # A hard link never replaces: when processes start together, the first wins.
            path.hardlink_to(partial)
        except FileExistsError:
            pass
        finally:
            partial.unlink(missing_ok=True)
    return path.read_text().strip().encode()


def _canonical(row: AuditLog) -> bytes:
    values: dict[str, object] = {}
    for name in _FIELDS:
        value = getattr(row, name)
        if isinstance(value, datetime):
            value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
            value = value.isoformat(timespec="microseconds")
        values[name] = None if value is None else str(value)
    return json.dumps(values, sort_keys=True, separators=(",", ":")).encode()


def seal_hash(prev_hash: str, row: AuditLog, key: bytes | None) -> str:
    """The seal of `row` after `prev_hash`: keyed (HMAC-SHA256), or with `key` None the
    plain SHA-256 of the seals made before revision 0012."""
    message = prev_hash.encode() + b"\n" + _canonical(row)
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def seal_pending(session: Session, *, key: bytes, settle: timedelta, limit: int = 5000) -> int:
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
        row_hash = seal_hash(prev, row, key)
        session.add(AuditSeal(audit_id=row.id, prev_hash=prev, row_hash=row_hash, keyed=True))
        prev = row_hash
    return len(rows)


class BadHead(ValueError):
    """A head that is malformed or whose signature does not hold under this key."""


@dataclass(frozen=True)
class ChainHead:
    """How far the chain reached: `seq` seals, the last sealing row `audit_id` with
    `mac`, at `at` (ISO 8601); `signature` is an HMAC over them with the chain's key."""

    seq: int
    audit_id: int
    mac: str
    at: str
    signature: str

    @staticmethod
    def sign(key: bytes, values: dict[str, Any]) -> str:
        body = json.dumps({name: values[name] for name in _HEAD_FIELDS}, sort_keys=True)
        return hmac.new(key, b"audit-head\n" + body.encode(), hashlib.sha256).hexdigest()

    @classmethod
    def read(cls, data: object, key: bytes) -> ChainHead:
        """The head in `data` (a parsed JSON object), if its signature holds."""
        if not isinstance(data, dict):
            raise BadHead("the head is not a JSON object")
        try:
            head = cls(
                seq=int(data["seq"]),
                audit_id=int(data["audit_id"]),
                mac=str(data["mac"]),
                at=str(data["at"]),
                signature=str(data["signature"]),
            )
        except (KeyError, TypeError, ValueError):
            raise BadHead("the head lacks a field or has one of the wrong type") from None
        if not hmac.compare_digest(cls.sign(key, asdict(head)), head.signature):
            raise BadHead("the head's signature does not hold under this key")
        return head


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_broken: int | None = None
    reason: str | None = None
    last: tuple[int, str] | None = None  # the last seal's (audit_id, mac)


def chain_head(session: Session, key: bytes) -> ChainHead | ChainReport:
    """The signed head of the chain as it stands, or the report of a chain that does not
    hold (a broken chain is never signed)."""
    report = verify_chain(session, key)
    if not report.ok:
        return report
    audit_id, mac = report.last or (0, GENESIS)
    values: dict[str, Any] = {
        "seq": report.checked,
        "audit_id": audit_id,
        "mac": mac,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return ChainHead(**values, signature=ChainHead.sign(key, values))


def verify_chain(session: Session, key: bytes, head: ChainHead | None = None) -> ChainReport:
    """Walk the sealed part of the audit log; name the first row that does not hold. With
    a `head`, the chain must also still reach it, through the very seal it names."""
    seals = session.execute(
        select(
            AuditSeal.audit_id, AuditSeal.prev_hash, AuditSeal.row_hash, AuditSeal.keyed
        ).order_by(AuditSeal.audit_id)
    ).all()
    checked = len(seals)
    rows = {
        row.id: row
        for row in session.scalars(
            select(AuditLog).where(AuditLog.id <= (seals[-1].audit_id if seals else 0))
        )
    }
    prev, keyed = GENESIS, False
    for seq, seal in enumerate(seals, start=1):
        row = rows.pop(seal.audit_id, None)
        if row is None:
            return ChainReport(False, checked, seal.audit_id, "row deleted")
        expected = seal_hash(prev, row, key if seal.keyed else None)
        if (
            (keyed and not seal.keyed)
            or seal.prev_hash != prev
            or not hmac.compare_digest(expected, seal.row_hash)
        ):
            return ChainReport(False, checked, seal.audit_id, "row or seal altered")
        if (
            head is not None
            and seq == head.seq
            and (seal.audit_id, seal.row_hash)
            != (
                head.audit_id,
                head.mac,
            )
        ):
            return ChainReport(False, checked, seal.audit_id, "the chain departs from the head")
        prev, keyed = seal.row_hash, seal.keyed
    if rows:  # rows among the sealed ones that were never sealed: inserted out of order
        return ChainReport(False, checked, min(rows), "row not in the chain")
    if head is not None and checked < head.seq:
        return ChainReport(False, checked, head.audit_id, "the chain ends before the head")
    last = (seals[-1].audit_id, seals[-1].row_hash) if seals else None
    return ChainReport(True, checked, last=last)
