"""Accepting an upload: one transaction for the shell file, its bytes, its jobs and its audit row.

The view hands over a file that werkzeug has already spooled (to disk past
500 KB), so nothing here holds a whole file in memory: the bytes are hashed in
one pass and written to the blob store in chunks in a second.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from flask import current_app, g
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError, ProgrammingError, SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound, Unauthorized

from app import quotas
from app.access.grants import accessible_profile_archived
from app.access.tokens import forget_token, verify_token
from app.audit import AuditUnavailable, audit_document, audit_read, audit_row
from app.documents import lifecycle
from app.documents.statement import NEW_DOCUMENT, NEW_DOCUMENT_WITH_BYTES, job_rows_json
from app.filetypes import SNIFF_BYTES, is_allowed, sniff_mime
from app.models import Job, ShellFile, table_of
from app.runs import enqueue
from app.runs.dialects import statements
from app.storage import Blobs, DatabaseBlobStore

UPLOAD_REASON = "document upload"


_files = table_of(ShellFile)


class UploadRefused(Exception):
    """The upload cannot be accepted; `status` is the HTTP status to answer with."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.retry_after = retry_after  # seconds, for a 429


@dataclass(frozen=True)
class UploadOutcome:
    shell_file: ShellFile
    head_job_id: uuid.UUID | None
    created: bool  # False: an earlier upload answered (idempotent replay or duplicate)
    duplicate: bool
    queued: list[enqueue.QueuedJob]  # the job to publish after commit; empty unless created


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
    profile_id: uuid.UUID,
    stream: IO[bytes],
    filename: str | None,
    priority: int,
    idempotency_key: str | None,
    chunk_bytes: int,
    token_to_verify: str | None = None,
) -> UploadOutcome:
    """Store the upload into the profile and queue its processing, or return the earlier
    answer.

    Commits on success. Raises `NotFound` unless the account may write to the profile,
    `Unauthorized` if `token_to_verify` (the hash of a token the request took on trust)
    is not a valid token of the account, and `UploadRefused` for bad input or an archived
    profile, leaving nothing behind.
    """
    mime_type, sha256, size = _inspect(stream, chunk_bytes)
    # The common case, a file of one chunk kept in PostgreSQL, is one statement that also
    # checks access. Otherwise access is checked first.
    one_statement = blobs.in_database and size <= chunk_bytes and not idempotency_key
    one_statement = one_statement and statements(session.connection()).one_statement
    if not one_statement:
        _check_caller(session, token_to_verify, account_id, profile_id)

    for attempt in range(2):
        # Without a key, the unique index on (profile, sha256) catches a duplicate at
        # insert time, so the common case skips the look-up.
        if idempotency_key or attempt:
            if one_statement:  # the statement lost to a duplicate: nothing is known yet
                _check_caller(session, token_to_verify, account_id, profile_id)
            earlier = _earlier_answer(session, account_id, profile_id, sha256, idempotency_key)
            if earlier is not None:
                return earlier
        values = _new_file(
            profile_id,
            account_id=account_id,
            filename=filename,
            mime_type=mime_type,
            size=size,
            sha256=sha256,
        )
        values |= {"processing_priority": priority, "idempotency_key": idempotency_key}
        stored = _write(
            session,
            blobs,
            stream,
            values,
            one_statement=one_statement,
            chunk_bytes=chunk_bytes,
            token_to_verify=token_to_verify,
        )
        if stored is not None:
            return stored
    raise UploadRefused(409, "conflict", "a concurrent upload conflicts with this one; retry")


def _write(
    session: Session,
    blobs: Blobs,
    stream: IO[bytes],
    values: dict[str, Any],
    *,
    one_statement: bool,
    chunk_bytes: int,
    token_to_verify: str | None,
) -> UploadOutcome | None:
    """Write the new document and commit; None if a concurrent upload of the same bytes
    or key won the race (the caller then answers as it did)."""
    # The one statement takes the bytes and checks the token; otherwise the bytes are
    # stored first, and the caller was checked by `_check_caller`.
    data, token = None, None
    try:
        if one_statement:
            values["storage_key"] = DatabaseBlobStore.key(values["id"])
            stream.seek(0)
            data, token = stream.read(), token_to_verify
        else:
            values["storage_key"] = blobs.put(session, values["id"], _chunks(stream, chunk_bytes))
        shell_file = ShellFile(**values)
        queued = _store_new_document(session, shell_file, values, data, token)
        session.commit()
    except IntegrityError:
        session.rollback()
        return None
    return UploadOutcome(shell_file, queued[0].id, created=True, duplicate=False, queued=queued)


def _inspect(stream: IO[bytes], chunk_bytes: int) -> tuple[str, str, int]:
    """The file's type (from its bytes), SHA-256 and size; `UploadRefused` if it is empty
    or of a type not accepted."""
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
    return mime_type, digest.hexdigest(), size


def _new_file(
    profile_id: uuid.UUID,
    *,
    account_id: uuid.UUID,
    filename: str | None,
    mime_type: str,
    size: int,
    sha256: str,
) -> dict[str, Any]:
    """The new shell file's row, but for its priority, key and storage key."""
    return {
        "id": uuid.uuid4(),
        "patient_id": profile_id,
        "uploaded_by": account_id,
        "original_filename": clean_filename(filename),
        "mime_type": mime_type,
        "file_size_bytes": size,
        "sha256": sha256,
        "status": "uploaded",
        "run_number": 1,
    }


def _check_caller(
    session: Session, token_hash: str | None, account_id: uuid.UUID, profile_id: uuid.UUID
) -> None:
    """What the one statement checks, as separate queries: raise `Unauthorized` if the
    token taken on trust is not valid, `NotFound` unless the account may write to the
    profile, `UploadRefused` if it is archived."""
    if token_hash is not None:
        verify_token(session, token_hash, account_id)
    if accessible_profile_archived(session, account_id, profile_id, "read_write"):
        raise _ARCHIVED


_ARCHIVED = UploadRefused(409, "profile_archived", "this profile is archived")


def _store_new_document(
    session: Session,
    shell_file: ShellFile,
    values: dict[str, Any],
    data: bytes | None,
    token_to_verify: str | None = None,
) -> list[enqueue.QueuedJob]:
    """Insert the shell file, its jobs (priority by fair share) and the audit row of its
    upload, and `data`, its bytes as one blob chunk, if given (PostgreSQL only); return the
    job to publish. One statement on PostgreSQL, which inserts nothing and raises
    `Unauthorized`, `NotFound` or `UploadRefused` unless `token_to_verify` (if given) is
    the uploader's valid token and the uploader may write to the profile; four statements
    elsewhere, after `_check_caller`.

    Raises `IntegrityError` when a concurrent upload of the same bytes or key won, and
    `AuditUnavailable` when the rows cannot be written otherwise.
    """
    connection = session.connection()
    if not statements(connection).one_statement:
        connection.execute(insert(_files), [values])
        queued = enqueue.enqueue_pipeline(session, shell_file)
        audit_document(session, shell_file, operation="create", reason=UPLOAD_REASON)
        return queued
    audit = audit_row(
        operation="create",
        table_name="shell_files",
        record_id=shell_file.id,
        patient_id=shell_file.patient_id,
        reason=UPLOAD_REASON,
    )
    rows = enqueue.pipeline_rows(shell_file, priority=shell_file.processing_priority)
    params = values | {f"audit_{column}": value for column, value in audit.items()}
    params |= {"job_rows": job_rows_json(rows), "chunk": data, "now": rows[0]["created_at"]}
    params |= {"token_hash": token_to_verify}
    try:
        statement = NEW_DOCUMENT if data is None else NEW_DOCUMENT_WITH_BYTES
        caller, archived, priority = connection.execute(statement, params).one()
    except (IntegrityError, ProgrammingError):
        raise  # a concurrent upload won (answered as it was), or a schema bug (500)
    except SQLAlchemyError as exc:
        # The document and its audit row are written together: if they cannot be, the
        # upload is refused as unaudited (503), as `log_audit_event` would refuse it.
        raise AuditUnavailable("the upload could not be audited") from exc
    if not caller:
        assert token_to_verify is not None  # without a token to check, the caller passes
        forget_token(token_to_verify)
        raise Unauthorized("the bearer token is not valid")
    if archived is None:
        raise NotFound("no such profile")
    if archived:
        raise _ARCHIVED
    head = rows[0]  # queued; the others wait for the stage before them
    return [enqueue.QueuedJob(head["id"], head["job_name"], shell_file.id, priority)]


def receive_upload(
    session: Session,
    profile_id: uuid.UUID,
    *,
    account_id: uuid.UUID,
    stream: IO[bytes],
    filename: str | None,
    priority: int,
    idempotency_key: str | None,
    reason: str,
) -> UploadOutcome:
    """What a request (API or web page) does with an uploaded file: `accept_upload`,
    then publish the new document's first job, or audit the read of the earlier answer
    (`reason` says which page read it). Raises `UploadRefused`, its session rolled back
    (429 past the account's upload allowance, `app.quotas`).
    """
    settings = current_app.config["SETTINGS"]
    try:
        quotas.take("upload", account_id)
    except quotas.QuotaExceeded as exceeded:
        raise UploadRefused(
            429, "rate_limited", str(exceeded), retry_after=exceeded.retry_after
        ) from None
    try:
        outcome = accept_upload(
            session,
            current_app.extensions["blobs"],
            account_id=account_id,
            profile_id=profile_id,
            stream=stream,
            filename=filename,
            priority=priority,
            idempotency_key=idempotency_key,
            chunk_bytes=settings.blob_chunk_bytes,
            token_to_verify=g.get("token_to_verify"),
        )
    except (UploadRefused, NotFound, Unauthorized):
        session.rollback()
        raise
    if outcome.created:
        lifecycle.commit_then_publish(session, outcome.queued)  # committed already
    else:
        audit_read(
            session,
            table_name="shell_files",
            record_id=outcome.shell_file.id,
            patient_id=profile_id,
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
