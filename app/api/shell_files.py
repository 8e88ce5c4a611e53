"""Shell files: upload, status, errors and the original bytes."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from flask import Response, current_app, g, jsonify, request, stream_with_context, url_for
from sqlalchemy import select
from werkzeug.exceptions import BadRequest

from app.access.grants import accessible_document
from app.api import schemas
from app.api.blueprint import api, error_response
from app.api.openapi import BINARY, COMMON_ERRORS, Reply, documented, error
from app.audit import audit_read
from app.db import get_db, request_session
from app.documents.content import ContentWithheld, passed_scan
from app.documents.upload import UploadOutcome, UploadRefused, receive_upload
from app.models import Job, ProcessingError, ShellFile
from app.pipeline import STAGE_NAMES
from app.runs import enqueue, states


def parse_uuid(raw: str | None, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise BadRequest(f"{what} must be a UUID") from None


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def readable_shell_file(shell_file_id: str, level: str = "read_only") -> ShellFile:
    """The shell file, if the caller reaches its profile at `level`; 404 otherwise."""
    return accessible_document(request_session(), g.account_id, shell_file_id, level)


def stage_view(job: Job) -> dict[str, Any]:
    duration_ms = None
    if job.started_at and job.completed_at:
        duration_ms = round((job.completed_at - job.started_at).total_seconds() * 1000)
    return {
        "status": job.status,
        "lane": job.job_lane,
        "job_id": str(job.id),
        "attempts": job.attempts,
        "started_at": _iso(job.started_at),
        "completed_at": _iso(job.completed_at),
        "duration_ms": duration_ms,
        "last_error": job.last_error,
    }


def shell_file_view(
    shell_file: ShellFile, current_stage: str | None, run: list[Job] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(shell_file.id),
        "patient_id": str(shell_file.patient_id),
        "original_filename": shell_file.original_filename,
        "mime_type": shell_file.mime_type,
        "file_size_bytes": shell_file.file_size_bytes,
        "sha256": shell_file.sha256,
        "status": shell_file.status,
        "current_stage": current_stage,
        "run_number": shell_file.run_number,
        "processing_priority": shell_file.processing_priority,
        "page_count": shell_file.page_count,
        "ocr_average_confidence": shell_file.ocr_average_confidence,
        "created_at": _iso(shell_file.created_at),
        "updated_at": _iso(shell_file.updated_at),
        "processing_started_at": _iso(shell_file.processing_started_at),
        "processing_completed_at": _iso(shell_file.processing_completed_at),
    }
    if run is not None:
        by_stage = {job.job_type: stage_view(job) for job in run}
        body["stages"] = {name: by_stage.get(name) for name in STAGE_NAMES} | by_stage
    return body


def _form_priority() -> int:
    raw = request.form.get("priority", "5")
    try:
        priority = int(raw)
    except ValueError:
        raise BadRequest("priority must be a whole number from 1 to 10") from None
    if not 1 <= priority <= 10:
        raise BadRequest("priority must be a whole number from 1 to 10")
    return priority


def _upload_response(outcome: UploadOutcome) -> Response:
    shell_file = outcome.shell_file
    body = {
        "shell_file_id": str(shell_file.id),
        "job_id": str(outcome.head_job_id) if outcome.head_job_id else None,
        "status": shell_file.status,
        "patient_id": str(shell_file.patient_id),
        "mime_type": shell_file.mime_type,
        "file_size_bytes": shell_file.file_size_bytes,
        "sha256": shell_file.sha256,
        "duplicate": outcome.duplicate,
    }
    response = jsonify(body)
    response.status_code = 201 if outcome.created else 200
    response.headers["Location"] = url_for("api.get_shell_file", shell_file_id=shell_file.id)
    return response


@api.post("/shell-files")
@documented(
    "Upload a document into a profile",
    Reply(201, "Stored; processing is queued", schemas.UploadAnswer),
    Reply(200, "Answered by an earlier upload (same key or bytes)", schemas.UploadAnswer),
    error(400, "Missing, empty or malformed input"),
    error(409, "Idempotency-Key reused for other bytes, or profile archived"),
    error(413, "File larger than MAX_UPLOAD_BYTES"),
    error(415, "File type not accepted (judged from its bytes)"),
    error(429, "Past this account's upload allowance (UPLOAD_RATE_LIMIT); see Retry-After"),
    *COMMON_ERRORS,
    headers=schemas.UploadHeaders,
    body=schemas.UploadForm,
    body_media_type="multipart/form-data",
)
def upload_shell_file() -> Any:
    upload = request.files.get("file")
    if upload is None and not request.form and request.content_length:
        # werkzeug drops a body it cannot parse (a part header that is not UTF-8, say)
        raise BadRequest("the multipart body could not be read")
    if upload is None:
        raise BadRequest("a multipart field named 'file' is required")
    patient_id = parse_uuid(request.form.get("patient_id"), "patient_id")
    priority = _form_priority()
    key = request.headers.get("Idempotency-Key") or None
    if key is not None and len(key) > 255:
        raise BadRequest("Idempotency-Key must be at most 255 characters")
    settings = current_app.config["SETTINGS"]
    stream = upload.stream
    stream.seek(0, 2)
    size = stream.tell()
    if size == 0:
        return error_response(400, "empty_file", "the file is empty")
    if size > settings.max_upload_bytes:
        return error_response(
            413, "file_too_large", f"files may be at most {settings.max_upload_bytes} bytes"
        )

    try:
        # Access (404) and an archived profile (409) are checked with the upload itself.
        outcome = receive_upload(
            request_session(),
            patient_id,
            account_id=g.account_id,
            stream=stream,
            filename=upload.filename,
            priority=priority,
            idempotency_key=key,
            reason="upload answered by an earlier one",
        )
    except UploadRefused as refused:
        return error_response(
            refused.status, refused.code, refused.message, retry_after=refused.retry_after
        )
    return _upload_response(outcome)


@api.get("/shell-files/<shell_file_id>")
@documented(
    "Status of a document and of each stage",
    Reply(200, "The document", schemas.ShellFile),
    *COMMON_ERRORS,
)
def get_shell_file(shell_file_id: str) -> Any:
    shell_file = readable_shell_file(shell_file_id)
    session = request_session()
    run = enqueue.run_jobs(session, shell_file.id, shell_file.run_number)
    current = next((job.job_type for job in run if job.status in states.ACTIVE_JOB_STATUSES), None)
    body = shell_file_view(shell_file, current, run)
    audit_read(
        session,
        table_name="shell_files",
        record_id=shell_file.id,
        patient_id=shell_file.patient_id,
        reason="view document status",
    )
    return jsonify(body)


@api.get("/shell-files/<shell_file_id>/errors")
@documented(
    "Every failed attempt of every stage",
    Reply(200, "The error rows, oldest first", schemas.ProcessingErrors),
    *COMMON_ERRORS,
)
def list_shell_file_errors(shell_file_id: str) -> Any:
    shell_file = readable_shell_file(shell_file_id)
    session = request_session()
    rows = session.scalars(
        select(ProcessingError)
        .where(ProcessingError.shell_file_id == shell_file.id)
        .order_by(ProcessingError.created_at, ProcessingError.id)
    ).all()
    items = [
        {
            "id": row.id,
            "job_id": str(row.job_id) if row.job_id else None,
            "stage": row.stage,
            "error_type": row.error_type,
            "error_message": row.error_message,
            "retry_count": row.retry_count,
            "next_retry_at": _iso(row.next_retry_at),
            "is_final": row.is_final,
            "created_at": _iso(row.created_at),
        }
        for row in rows
    ]
    audit_read(
        session,
        table_name="processing_errors",
        record_id=shell_file.id,
        patient_id=shell_file.patient_id,
        reason="view processing errors",
    )
    return jsonify(shell_file_id=str(shell_file.id), items=items)


@api.get("/shell-files/<shell_file_id>/content")
@documented(
    "The original bytes (audited)",
    Reply(200, "The file as uploaded", media_type="*/*", schema=BINARY),
    error(409, "Not served: quarantined (with its reason), or not through the security scan yet"),
    *COMMON_ERRORS,
)
def get_shell_file_content(shell_file_id: str) -> Any:
    shell_file = readable_shell_file(shell_file_id)
    session = request_session()
    try:
        passed_scan(session, shell_file)
    except ContentWithheld as withheld:
        return error_response(withheld.status, withheld.code, withheld.message, withheld.reason)
    audit_read(
        session,
        table_name="shell_files",
        record_id=shell_file.id,
        patient_id=shell_file.patient_id,
        reason="download original document",
    )
    blobs = current_app.extensions["blobs"]
    key = shell_file.storage_key

    def generate() -> Any:
        with get_db().session() as blob_session:
            yield from blobs.read(blob_session, key)

    ascii_name = shell_file.original_filename.encode("ascii", "replace").decode().replace('"', "")
    disposition = (
        f'attachment; filename="{ascii_name}"; '
        f"filename*=UTF-8''{quote(shell_file.original_filename, safe='')}"
    )
    return Response(
        stream_with_context(generate()),
        mimetype=shell_file.mime_type,
        headers={
            "Content-Length": str(shell_file.file_size_bytes),
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
