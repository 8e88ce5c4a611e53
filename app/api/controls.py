"""Controls on a document: reprocess it, archive it, or delete it with everything derived."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from werkzeug.exceptions import BadRequest

from app.api import schemas
from app.api.blueprint import api, error_response
from app.api.openapi import COMMON_ERRORS, Reply, documented, error
from app.api.shell_files import readable_shell_file
from app.db import request_session
from app.documents import lifecycle
from app.quotas import QuotaExceeded


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
@documented(
    "Start a new run, from the start or from a stage (needs read_write)",
    Reply(202, "The new run is queued", schemas.Reprocessed),
    error(400, "The body is not a JSON object, or from_stage not a string"),
    error(
        409,
        "Not finished or failed, from_stage names no stage, "
        "or the stages before it did not complete",
    ),
    error(429, "Past this account's reprocess allowance (REPROCESS_RATE_LIMIT); see Retry-After"),
    *COMMON_ERRORS,
    body=schemas.ReprocessBody,
    body_required=False,
)
def reprocess_shell_file(shell_file_id: str) -> Any:
    """Start a new run, from the first stage or from `{"from_stage": …}`."""
    shell_file = readable_shell_file(shell_file_id, level="read_write")
    from_stage = _from_stage()
    try:
        chain = lifecycle.reprocess(
            request_session(),
            shell_file,
            account_id=g.account_id,
            from_stage=from_stage,
            reason=f"reprocess from {from_stage or 'the start'}",
        )
    except lifecycle.CannotReprocess as refused:
        return error_response(409, "cannot_reprocess", str(refused))
    except QuotaExceeded as exceeded:
        return error_response(429, "rate_limited", str(exceeded), retry_after=exceeded.retry_after)
    response = jsonify(
        shell_file_id=str(shell_file.id),
        run_number=shell_file.run_number,
        status=shell_file.status,
        job_id=str(chain[0].id),
    )
    response.status_code = 202
    return response


@api.delete("/shell-files/<shell_file_id>")
@documented(
    "Archive (read_write); with hard=true delete it all (full_access)",
    Reply(200, "Archived", schemas.Archived),
    Reply(204, "Deleted with its bytes and every derived row"),
    error(400, "hard is not true or false"),
    *COMMON_ERRORS,
    query=schemas.DeleteQuery,
)
def delete_shell_file(shell_file_id: str) -> Any:
    """Archive the document (default), or with `?hard=true` remove its bytes and every
    row derived from it. Hard deletion needs full access; both are audited."""
    hard = _hard_flag()
    shell_file = readable_shell_file(shell_file_id, level="full_access" if hard else "read_write")
    session = request_session()
    if not hard:
        lifecycle.archive(session, shell_file, reason="archive document")
        return jsonify(shell_file_id=str(shell_file.id), status=shell_file.status)
    lifecycle.hard_delete(
        session, shell_file, reason="hard delete of the document and everything derived from it"
    )
    return "", 204


@api.post("/shell-files/<shell_file_id>/cancel")
@documented(
    "Stop the document's run (needs read_write)",
    Reply(200, "Cancelled", schemas.Cancelled),
    error(409, "No run under way"),
    *COMMON_ERRORS,
)
def cancel_shell_file(shell_file_id: str) -> Any:
    """Stop the document's run; nothing more is processed (reprocess starts a new run)."""
    shell_file = readable_shell_file(shell_file_id, level="read_write")
    try:
        cancelled = lifecycle.cancel(request_session(), shell_file, reason="cancel processing")
    except lifecycle.CannotCancel as refused:
        return error_response(409, "cannot_cancel", str(refused))
    return jsonify(
        shell_file_id=str(shell_file.id), status=shell_file.status, cancelled_jobs=cancelled
    )
