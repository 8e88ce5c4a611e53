"""Accepting an upload: one transaction for the shell file, its bytes, its jobs and its audit row.

The view hands over a file that werkzeug has already spooled (to disk past
500 KB), so nothing here holds a whole file in memory: the bytes are hashed in
one pass and written to the blob store in chunks in a second.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from flask import current_app
from sqlalchemy import Integer, bindparam, func, insert, select, union_all
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from app import jobs
from app.audit import AuditUnavailable, audit_document, audit_read, audit_row
from app.filetypes import SNIFF_BYTES, is_allowed, sniff_mime
from app.models import AuditLog, Job, ShellFile, UserProfile, table_of
from app.pipeline import STAGES
from app.storage import Blobs

# A new document in one round trip on PostgreSQL: the shell file, one job per stage and
# the upload's audit row, the jobs' priority lowered by fair share as in
# `jobs.fair_share_priority`. Built once; each value is a parameter named after its
# column (`p_file_*`, `p_audit_*`; `p_job<stage index>_*` for what differs between the
# stages, `p_job_*` for what they share).
_files, _jobs, _audit = table_of(ShellFile), table_of(Job), table_of(AuditLog)
UPLOAD_REASON = "document upload"
_FILE_COLUMNS = (
    "id",
    "patient_id",
    "uploaded_by",
    "original_filename",
    "mime_type",
    "file_size_bytes",
    "sha256",
    "storage_key",
    "status",
    "processing_priority",
    "idempotency_key",
    "run_number",
)
_PER_STAGE_COLUMNS = (
    "id",
    "job_type",
    "job_name",
    "job_lane",
    "job_payload",
    "status",
    "stage_index",
    "celery_task_id",
)


def _values(table: Any, columns: Iterable[str], prefix: str) -> dict[str, Any]:
    return {c: bindparam(f"{prefix}{c}", type_=table.c[c].type) for c in columns}


def _new_document_statement() -> Any:
    in_flight = jobs.IN_FLIGHT_OF_PROFILE.cte("in_flight")
    priority = func.least(
        10,
        bindparam("p_file_processing_priority", type_=Integer)
        + select(in_flight.c.in_flight).scalar_subquery() // jobs.FAIR_SHARE_STEP,
    )
    # INSERT … SELECT … UNION ALL rather than a multi-row VALUES, which SQLAlchemy would
    # compile again at every execution.
    job_rows = union_all(
        *(
            select(
                *(
                    bindparam(
                        f"p_job{index}_{c}" if c in _PER_STAGE_COLUMNS else f"p_job_{c}",
                        type_=_jobs.c[c].type,
                    ).label(c)
                    for c in jobs.JOB_ROW_COLUMNS
                    if c != "priority"
                ),
                priority.label("priority"),
            )
            for index in range(len(STAGES))
        )
    )
    job_columns = [c for c in jobs.JOB_ROW_COLUMNS if c != "priority"] + ["priority"]
    audit_columns = [c.name for c in _audit.columns if c.name not in ("id", "occurred_at")]
    return select(priority.label("priority")).add_cte(
        insert(_files).values(_values(_files, _FILE_COLUMNS, "p_file_")).cte("file_inserted"),
        insert(_jobs).from_select(job_columns, job_rows).cte("jobs_inserted"),
        insert(_audit).values(_values(_audit, audit_columns, "p_audit_")).cte("audit_inserted"),
    )


_NEW_DOCUMENT = _new_document_statement()


class UploadRefused(Exception):
    """The upload cannot be accepted; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class UploadOutcome:
    shell_file: ShellFile
    head_job_id: uuid.UUID | None
    created: bool  # False: an earlier upload answered (idempotent replay or duplicate)
    duplicate: bool
    chain: list[jobs.ChainLink]  # the jobs to publish after commit; empty unless created


def clean_filename(raw: str | None) -> str:
    """The client's filename as data to show back: no control characters, bounded length."""
    text = unicodedata.normalize("NFC", raw or "")
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    return text.strip()[:255] or "upload"


def _chunks(stream: IO[bytes], size: int) -> Iterator[bytes]:
    stream.seek(0)
    while chunk := stream.read(size):
        yield chunk


def accept_upload(
    session: Session,
    blobs: Blobs,
    *,
    account_id: uuid.UUID,
    profile: UserProfile,
    stream: IO[bytes],
    filename: str | None,
    priority: int,
    idempotency_key: str | None,
    chunk_bytes: int,
) -> UploadOutcome:
    """Store the upload and queue its processing, or return the earlier answer.

    Commits on success. Raises `UploadRefused` for bad input, leaving nothing behind.
    """
    stream.seek(0)
    head = stream.read(SNIFF_BYTES)
    if not head:
        raise UploadRefused(400, "empty_file", "the file is empty")
    mime_type = sniff_mime(head)
    if not is_allowed(mime_type):
        raise UploadRefused(415, "unsupported_type", f"files of type {mime_type} are not accepted")
    digest = hashlib.sha256()
    size = 0
    for chunk in _chunks(stream, chunk_bytes):
        digest.update(chunk)
        size += len(chunk)
    sha256 = digest.hexdigest()

    for attempt in range(2):
        # Without a key, the unique index on (profile, sha256) catches a duplicate at
        # insert time, so the common case skips the look-up.
        if idempotency_key or attempt:
            earlier = _earlier_answer(session, account_id, profile.id, sha256, idempotency_key)
            if earlier is not None:
                return earlier
        shell_file_id = uuid.uuid4()
        values = {
            "id": shell_file_id,
            "patient_id": profile.id,
            "uploaded_by": account_id,
            "original_filename": clean_filename(filename),
            "mime_type": mime_type,
            "file_size_bytes": size,
            "sha256": sha256,
            "status": "uploaded",
            "processing_priority": priority,
            "idempotency_key": idempotency_key,
            "run_number": 1,
        }
        try:
            values["storage_key"] = blobs.put(session, shell_file_id, _chunks(stream, chunk_bytes))
            shell_file = ShellFile(**values)
            chain = _store_new_document(session, shell_file, values)
            session.commit()
        except IntegrityError:
            # A concurrent upload of the same bytes or key won the race: answer as it did.
            session.rollback()
            continue
        return UploadOutcome(shell_file, chain[0].id, created=True, duplicate=False, chain=chain)
    raise UploadRefused(409, "conflict", "a concurrent upload conflicts with this one; retry")


def _store_new_document(
    session: Session, shell_file: ShellFile, values: dict[str, Any]
) -> list[jobs.ChainLink]:
    """Insert the shell file, its jobs (priority by fair share) and the audit row of its
    upload; return the chain to publish. One statement on PostgreSQL, four elsewhere.

    Raises `IntegrityError` when a concurrent upload of the same bytes or key won, and
    `AuditUnavailable` when the rows cannot be written otherwise.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(insert(_files), [values])
        chain = jobs.enqueue_pipeline(session, shell_file)
        audit_document(session, shell_file, operation="create", reason=UPLOAD_REASON)
        return chain
    audit = audit_row(
        operation="create",
        table_name="shell_files",
        record_id=shell_file.id,
        patient_id=shell_file.patient_id,
        reason=UPLOAD_REASON,
    )
    rows = jobs.pipeline_rows(shell_file, priority=shell_file.processing_priority)
    params = {f"p_file_{column}": values[column] for column in _FILE_COLUMNS}
    params |= {f"p_audit_{column}": value for column, value in audit.items()}
    params |= {f"p_job_{column}": value for column, value in rows[0].items()}
    for index, row in enumerate(rows):
        params |= {f"p_job{index}_{column}": row[column] for column in _PER_STAGE_COLUMNS}
    params |= {"p_patient_id": shell_file.patient_id, "p_shell_file_id": shell_file.id}
    try:
        priority = connection.execute(_NEW_DOCUMENT, params).scalar_one()
    except IntegrityError:
        raise
    except SQLAlchemyError as exc:
        # The document and its audit row are written together: if they cannot be, the
        # upload is refused as unaudited (503), as `log_audit_event` would refuse it.
        raise AuditUnavailable("the upload could not be audited") from exc
    for row in rows:
        row["priority"] = priority
    return jobs.chain_links(rows)


def receive_upload(
    session: Session,
    profile: UserProfile,
    *,
    account_id: uuid.UUID,
    stream: IO[bytes],
    filename: str | None,
    priority: int,
    idempotency_key: str | None,
    reason: str,
) -> UploadOutcome:
    """What a request (API or web page) does with an uploaded file: `accept_upload`,
    then publish the new document's chain, or audit the read of the earlier answer
    (`reason` says which page read it). Raises `UploadRefused`, its session rolled back.
    """
    settings = current_app.config["SETTINGS"]
    try:
        outcome = accept_upload(
            session,
            current_app.extensions["blobs"],
            account_id=account_id,
            profile=profile,
            stream=stream,
            filename=filename,
            priority=priority,
            idempotency_key=idempotency_key,
            chunk_bytes=settings.blob_chunk_bytes,
        )
    except UploadRefused:
        session.rollback()
        raise
    if outcome.created:
        current_app.extensions["dispatcher"].publish_after_commit(outcome.chain)
    else:
        audit_read(
            session,
            table_name="shell_files",
            record_id=outcome.shell_file.id,
            patient_id=profile.id,
            reason=reason,
        )
    return outcome


def _earlier_answer(
    session: Session,
    account_id: uuid.UUID,
    profile_id: uuid.UUID,
    sha256: str,
    idempotency_key: str | None,
) -> UploadOutcome | None:
    if idempotency_key:
        keyed = session.scalar(
            select(ShellFile).where(
                ShellFile.uploaded_by == account_id, ShellFile.idempotency_key == idempotency_key
            )
        )
        if keyed is not None:
            if keyed.sha256 != sha256 or keyed.patient_id != profile_id:
                raise UploadRefused(
                    409, "idempotency_conflict", "this Idempotency-Key was used for another upload"
                )
            return UploadOutcome(keyed, head_job_id(session, keyed), False, False, [])
    same_bytes = session.scalar(
        select(ShellFile).where(
            ShellFile.patient_id == profile_id,
            ShellFile.sha256 == sha256,
            ShellFile.status != "archived",
        )
    )
    if same_bytes is not None:
        return UploadOutcome(same_bytes, head_job_id(session, same_bytes), False, True, [])
    return None


def head_job_id(session: Session, shell_file: ShellFile) -> uuid.UUID | None:
    return session.scalar(
        select(Job.id).where(
            Job.shell_file_id == shell_file.id,
            Job.run_number == shell_file.run_number,
            Job.stage_index == 0,
        )
    )
