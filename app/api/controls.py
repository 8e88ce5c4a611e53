"""Controls on a document: reprocess it, archive it, or delete it with everything derived."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request
from sqlalchemy import select
from werkzeug.exceptions import BadRequest

from app.api import api, error_response
from app.api.shell_files import readable_shell_file
from app.audit import audit_document
from app.db import request_session
from app.models import SecurityScan
from app.runs import enqueue, states


def _from_stage() -> str | None:
    """The optional `from_stage` of a reprocess request: no body, or a JSON object whose
    `from_stage`, if present, is a string. Raises BadRequest (400) for anything else, so
    a malformed body is never read as "from the start"."""
    if not request.get_data():
        return None
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    if "from_stage" not in body:
        return None
    from_stage = body["from_stage"]
    if not isinstance(from_stage, str):
        raise BadRequest("from_stage must be a stage name")
    return from_stage


_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _hard_flag() -> bool:
    """`?hard=` as a boolean; BadRequest (400) for a value that is not one."""
    raw = request.args.get("hard", "false").lower()
    if raw not in _BOOLEANS:
        raise BadRequest("hard must be true or false")
    return _BOOLEANS[raw]


@api.post("/shell-files/<shell_file_id>/reprocess")
def reprocess_shell_file(shell_file_id: str) -> Any:
    """Start a new run, from the first stage or from `{"from_stage": …}`."""
    shell_file = readable_shell_file(shell_file_id, level="read_write")
    from_stage = _from_stage()
    session = request_session()
    try:
        chain = enqueue.start_new_run(session, shell_file, from_stage=from_stage)
    except enqueue.CannotReprocess as refused:
        session.rollback()
        return error_response(409, "cannot_reprocess", str(refused))
    audit_document(
        session,
        shell_file,
        operation="update",
        reason=f"reprocess from {from_stage or 'the start'}",
    )
    session.commit()
    current_app.extensions["dispatcher"].publish_after_commit(chain)
    response = jsonify(
        shell_file_id=str(shell_file.id),
        run_number=shell_file.run_number,
        status=shell_file.status,
        job_id=str(chain[0].id),
    )
    response.status_code = 202
    return response


@api.delete("/shell-files/<shell_file_id>")
def delete_shell_file(shell_file_id: str) -> Any:
    """Archive the document (default), or with `?hard=true` remove its bytes and every
    row derived from it. Hard deletion needs full access; both are audited."""
    hard = _hard_flag()
    shell_file = readable_shell_file(shell_file_id, level="full_access" if hard else "read_write")
    session = request_session()
    if not hard:
        states.advance_status(shell_file, "archived")
        audit_document(session, shell_file, operation="update", reason="archive document")
        session.commit()
        return jsonify(shell_file_id=str(shell_file.id), status=shell_file.status)
    blobs = current_app.extensions["blobs"]
    repaired = session.scalar(
        select(SecurityScan.repaired_storage_key).where(SecurityScan.shell_file_id == shell_file.id)
    )
    for key in (shell_file.storage_key, repaired):
        if key:
            blobs.delete(session, key)
    audit_document(
        session,
        shell_file,
        operation="delete",
        reason="hard delete of the document and everything derived from it",
    )
    session.delete(shell_file)  # ON DELETE CASCADE removes jobs, errors, pages and records
    session.commit()
    return "", 204


@api.post("/shell-files/<shell_file_id>/cancel")
def cancel_shell_file(shell_file_id: str) -> Any:
    """Stop the document's run; nothing more is processed (reprocess starts a new run)."""
    shell_file = readable_shell_file(shell_file_id, level="read_write")
    session = request_session()
    try:
        cancelled = enqueue.cancel_run(session, shell_file)
    except enqueue.CannotCancel as refused:
        session.rollback()
        return error_response(409, "cannot_cancel", str(refused))
    audit_document(session, shell_file, operation="update", reason="cancel processing")
    session.commit()
    return jsonify(
        shell_file_id=str(shell_file.id), status=shell_file.status, cancelled_jobs=cancelled
    )
