"""Uploading into a profile from the web page.

The page's script sends one file per request (so each file has its own progress bar)
with the CSRF token in a header and asks for JSON; without script, the form posts
every picked file at once and the answer is the document list again. Either way the
bytes go through `receive_upload`, as the API's do: one transaction, then publish.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, g, jsonify, redirect, request, url_for
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import BadRequest

from app.db import request_session
from app.documents.upload import UploadRefused, receive_upload
from app.models import UserProfile
from app.web.blueprint import wants_json, web
from app.web.views import profile_for

MAX_FILES_PER_FORM = 20


def _size_of(upload: FileStorage) -> int:
    stream = upload.stream
    stream.seek(0, 2)
    return stream.tell()


def store_upload(profile: UserProfile, upload: FileStorage, key: str | None) -> dict[str, Any]:
    """Accept one file; answer what the page shows. Raises `UploadRefused` for bad input."""
    settings = current_app.config["SETTINGS"]
    size = _size_of(upload)
    if size == 0:
        raise UploadRefused(400, "empty_file", "The file is empty.")
    if size > settings.max_upload_bytes:
        limit_mb = settings.max_upload_bytes // (1024 * 1024)
        raise UploadRefused(413, "file_too_large", f"Files may be at most {limit_mb} MB.")
    outcome = receive_upload(
        request_session(),
        profile.id,
        account_id=g.account_id,
        stream=upload.stream,
        filename=upload.filename,
        priority=5,
        idempotency_key=key,
        reason="web: upload answered by an earlier one",
    )
    shell_file = outcome.shell_file
    return {
        "id": str(shell_file.id),
        "created": outcome.created,
        "duplicate": outcome.duplicate,
        "url": url_for("web.document", shell_file_id=shell_file.id),
    }


def _refusal_text(refused: UploadRefused) -> str:
    if refused.code == "unsupported_type":
        return "This kind of file is not accepted: upload a PDF, a photo or scan, or a text file."
    return refused.message[:1].upper() + refused.message[1:]


@web.post("/profiles/<profile_id>/documents")
def upload(profile_id: str) -> Any:
    profile = profile_for(profile_id, "read_write")
    if profile.archived:
        raise BadRequest("the profile is archived")
    files = [f for f in request.files.getlist("file") if f.filename or _size_of(f)]
    if not files or len(files) > MAX_FILES_PER_FORM:
        raise BadRequest(f"send from 1 to {MAX_FILES_PER_FORM} files")
    key = request.headers.get("Idempotency-Key") or None
    if key is not None and (len(key) > 255 or len(files) > 1):
        raise BadRequest("an Idempotency-Key names exactly one file")
    if wants_json():
        try:
            answer = store_upload(profile, files[0], key)
        except UploadRefused as refused:
            return jsonify(error={"message": _refusal_text(refused)}), refused.status
        return jsonify(answer), 201 if answer["created"] else 200
    for item in files:
        try:
            answer = store_upload(profile, item, None)
        except UploadRefused as refused:
            flash(f"Not uploaded: {_refusal_text(refused)}", "error")
            continue
        flash("Uploaded." if answer["created"] else "Already in this profile.")
    return redirect(url_for("web.documents", profile_id=profile.id))
