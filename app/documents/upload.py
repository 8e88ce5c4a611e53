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
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError, ProgrammingError, SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound, Unauthorized

from app.access.grants import accessible_profile_archived, levels_at_least
from app.access.tokens import forget_token, verify_token
from app.audit import AuditUnavailable, audit_document, audit_read, audit_row
from app.filetypes import SNIFF_BYTES, is_allowed, sniff_mime
from app.models import Job, ShellFile, table_of
from app.pipeline import STAGES
from app.runs import enqueue, states
from app.runs.dialects import statements
from app.storage import Blobs, DatabaseBlobStore

UPLOAD_REASON = "document upload"

# A new document in one round trip on PostgreSQL. The statement checks the caller's token
# when the request took it on trust (`app.access.authenticate(deferred=True)`; the rule of
# `_ACCOUNT_OF_TOKEN` there), that the uploader may write to the profile (the rule of
# `app.access.accessible_profile` at read_write: owned, or granted, neither revoked nor
# expired, at read_write or above) and that the profile is not archived; only then does it
# insert the shell file, one job per stage (the rows `enqueue.enqueue_pipeline` makes, at the
# priority `enqueue.fair_share_priority` gives), the upload's audit row and, for a file of one
# chunk, its bytes. Checking and writing in one statement also leaves no moment between
# them for a token or a grant to be revoked. Plain SQL: short and with few parameters, so
# that psycopg caches its parsing and PostgreSQL its plan.
_NEW_DOCUMENT_SQL = """
WITH caller AS (
    SELECT 1 WHERE CAST(:token_hash AS text) IS NULL
    UNION ALL
    SELECT 1 FROM api_tokens AS token JOIN accounts AS account ON account.id = token.account_id
    WHERE token.token_hash = :token_hash AND token.account_id = :uploaded_by
        AND token.revoked_at IS NULL
        AND (token.expires_at IS NULL OR token.expires_at > :now) AND account.is_active
), reached AS (
    SELECT profile.archived FROM user_profiles AS profile
    WHERE EXISTS (SELECT FROM caller) AND profile.id = :patient_id AND (
        profile.account_owner_id = :uploaded_by OR EXISTS (
            SELECT 1 FROM profile_permissions AS grant_
            WHERE grant_.profile_id = profile.id AND grant_.account_id = :uploaded_by
                AND grant_.revoked_at IS NULL
                AND (grant_.expires_at IS NULL OR grant_.expires_at > :now)
                AND grant_.permission_level IN ({writer_levels})))
), allowed AS (
    SELECT 1 FROM reached WHERE NOT archived
), in_flight AS (
    SELECT count(*) AS n FROM (
        SELECT 1 FROM shell_files
        WHERE patient_id = :patient_id AND status IN ('uploaded', 'processing')
            AND id <> :id
        LIMIT :in_flight_cap
    ) AS counted
), fair AS (
    SELECT least(10, :processing_priority + n / :fair_share_step) AS priority FROM in_flight
), file_inserted AS (
    INSERT INTO shell_files (id, patient_id, uploaded_by, original_filename, mime_type,
        file_size_bytes, sha256, storage_key, status, processing_priority, idempotency_key,
        run_number)
    SELECT :id, :patient_id, :uploaded_by, :original_filename, :mime_type,
        :file_size_bytes, :sha256, :storage_key, :status, :processing_priority,
        :idempotency_key, :run_number
    FROM allowed
), jobs_inserted AS (
    INSERT INTO job_queue (id, job_type, job_name, job_lane, stage_index, status,
        job_category, job_payload, priority, run_number, scheduled_at, attempts, max_retries,
        celery_task_id, shell_file_id, patient_id, created_at, updated_at)
    SELECT stage.id, stage.job_type, stage.job_name, stage.job_lane, stage.n - 1,
        CASE WHEN stage.n = 1 THEN 'queued' ELSE 'waiting' END, :job_category,
        jsonb_build_object('shell_file_id', CAST(:id AS text),
            'patient_id', CAST(:patient_id AS text), 'run', :run_number,
            'stage_index', stage.n - 1),
        fair.priority, :run_number, :now, 0, :max_retries, CAST(stage.id AS text), :id,
        :patient_id, :now, :now
    FROM unnest(CAST(:job_ids AS uuid[]), CAST(:job_types AS text[]),
            CAST(:job_names AS text[]), CAST(:job_lanes AS text[]))
        WITH ORDINALITY AS stage (id, job_type, job_name, job_lane, n),
        fair, allowed
), audit_inserted AS (
    INSERT INTO audit_log (actor_type, account_id, patient_id, table_name, record_id,
        operation, reason, compliance_category, request_id, client_address)
    SELECT :audit_actor_type, :audit_account_id, :audit_patient_id, :audit_table_name,
        :audit_record_id, :audit_operation, :audit_reason, :audit_compliance_category,
        :audit_request_id, :audit_client_address
    FROM allowed
){chunk}
SELECT EXISTS (SELECT FROM caller) AS caller, (SELECT archived FROM reached) AS archived,
    (SELECT priority FROM fair) AS priority
"""
_CHUNK_SQL = """, chunk_inserted AS (
    INSERT INTO blob_chunks (storage_key, seq, data) SELECT :storage_key, 0, :chunk FROM allowed
)"""
_WRITER_LEVELS = ", ".join(f"'{level}'" for level in levels_at_least("read_write"))
_NEW_DOCUMENT = text(_NEW_DOCUMENT_SQL.format(chunk="", writer_levels=_WRITER_LEVELS))
_NEW_DOCUMENT_WITH_BYTES = text(
    _NEW_DOCUMENT_SQL.format(chunk=_CHUNK_SQL, writer_levels=_WRITER_LEVELS)
)
_STAGE_ARRAYS = {
    "job_types": [stage.name for stage in STAGES],
    "job_names": [stage.task_name for stage in STAGES],
    "job_lanes": [stage.lane for stage in STAGES],
}
_files = table_of(ShellFile)


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
    chain: list[enqueue.ChainLink]  # the jobs to publish after commit; empty unless created


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
    # The common case, a file of one chunk kept in PostgreSQL, is one statement that also
    # checks access. Otherwise access is checked first.
    one_statement = (
        blobs.in_database
        and size <= chunk_bytes
        and not idempotency_key
        and statements(session.connection()).one_statement
    )
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
        shell_file_id = uuid.uuid4()
        values = {
            "id": shell_file_id,
            "patient_id": profile_id,
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
            if one_statement:
                values["storage_key"] = DatabaseBlobStore.key(shell_file_id)
                stream.seek(0)
                shell_file = ShellFile(**values)
                chain = _store_new_document(
                    session, shell_file, values, stream.read(), token_to_verify
                )
            else:
                values["storage_key"] = blobs.put(
                    session, shell_file_id, _chunks(stream, chunk_bytes)
                )
                shell_file = ShellFile(**values)
                chain = _store_new_document(session, shell_file, values, None)
            session.commit()
        except IntegrityError:
            # A concurrent upload of the same bytes or key won the race: answer as it did.
            session.rollback()
            continue
        return UploadOutcome(shell_file, chain[0].id, created=True, duplicate=False, chain=chain)
    raise UploadRefused(409, "conflict", "a concurrent upload conflicts with this one; retry")


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
) -> list[enqueue.ChainLink]:
    """Insert the shell file, its jobs (priority by fair share) and the audit row of its
    upload, and `data`, its bytes as one blob chunk, if given (PostgreSQL only); return the
    chain to publish. One statement on PostgreSQL, which inserts nothing and raises
    `Unauthorized`, `NotFound` or `UploadRefused` unless `token_to_verify` (if given) is
    the uploader's valid token and the uploader may write to the profile; four statements
    elsewhere, after `_check_caller`.

    Raises `IntegrityError` when a concurrent upload of the same bytes or key won, and
    `AuditUnavailable` when the rows cannot be written otherwise.
    """
    connection = session.connection()
    if not statements(connection).one_statement:
        connection.execute(insert(_files), [values])
        chain = enqueue.enqueue_pipeline(session, shell_file)
        audit_document(session, shell_file, operation="create", reason=UPLOAD_REASON)
        return chain
    audit = audit_row(
        operation="create",
        table_name="shell_files",
        record_id=shell_file.id,
        patient_id=shell_file.patient_id,
        reason=UPLOAD_REASON,
    )
    job_ids = [uuid.uuid4() for _ in STAGES]
    params = values | {f"audit_{column}": value for column, value in audit.items()}
    params |= _STAGE_ARRAYS | {"job_ids": job_ids, "chunk": data, "now": states.now()}
    params |= {"job_category": "standard", "max_retries": enqueue.DEFAULT_MAX_RETRIES}
    params |= {"in_flight_cap": enqueue.FAIR_SHARE_STEP * 10}
    params |= {"fair_share_step": enqueue.FAIR_SHARE_STEP, "token_hash": token_to_verify}
    try:
        statement = _NEW_DOCUMENT if data is None else _NEW_DOCUMENT_WITH_BYTES
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
    return [
        enqueue.ChainLink(job_id, stage.task_name, shell_file.id, priority)
        for job_id, stage in zip(job_ids, STAGES, strict=True)
    ]


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
    then publish the new document's chain, or audit the read of the earlier answer
    (`reason` says which page read it). Raises `UploadRefused`, its session rolled back.
    """
    settings = current_app.config["SETTINGS"]
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
        current_app.extensions["dispatcher"].publish_after_commit(outcome.chain)
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
