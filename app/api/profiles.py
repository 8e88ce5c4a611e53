"""Profiles the caller can reach, and the documents in each."""

from __future__ import annotations

import uuid
from typing import Any

from flask import g, jsonify, request
from sqlalchemy import func, select
from werkzeug.exceptions import BadRequest, NotFound

from app.access.grants import accessible_profile, reachable_profiles
from app.api import schemas
from app.api.blueprint import api
from app.api.openapi import (
    AUDIT_UNAVAILABLE,
    COMMON_ERRORS,
    UNAUTHENTICATED,
    Reply,
    documented,
    error,
)
from app.api.schemas import MAX_PAGE, MAX_PER_PAGE
from app.api.shell_files import shell_file_view
from app.audit import audit_read, commit_audited, log_audit_event
from app.db import request_session
from app.models import SHELL_FILE_STATUSES, ShellFile
from app.runs import admin


def positive_int(name: str, default: int, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number") from None
    if value < 1 or (maximum is not None and value > maximum):
        raise BadRequest(f"{name} must be between 1 and {maximum or 'any'}")
    return value


@api.get("/profiles")
@documented(
    "Profiles the caller owns or was granted",
    Reply(200, "The profiles", schemas.Profiles),
    UNAUTHENTICATED,
    AUDIT_UNAVAILABLE,
)
def list_profiles() -> Any:
    """The profiles the caller owns or has been granted (not revoked, not expired)."""
    session = request_session()
    rows = reachable_profiles(session, g.account_id)
    items = []
    for profile, access in rows:
        items.append(
            {
                "id": str(profile.id),
                "display_name": profile.display_name,
                "profile_type": profile.profile_type,
                "archived": profile.archived,
                "access": access,
            }
        )
        log_audit_event(
            session,
            operation="read",
            table_name="user_profiles",
            record_id=profile.id,
            patient_id=profile.id,
            reason="list profiles",
        )
    commit_audited(session)
    return jsonify(items=items)


@api.get("/profiles/<profile_id>/shell-files")
@documented(
    "A page of a profile's documents, newest first",
    Reply(200, "A page of documents", schemas.ShellFilePage),
    error(400, "Bad filter or page"),
    *COMMON_ERRORS,
    query=schemas.ShellFileListQuery,
)
def list_profile_shell_files(profile_id: str) -> Any:
    """A page of the profile's documents, newest first, optionally of one status."""
    try:
        pid = uuid.UUID(profile_id)
    except ValueError:
        raise NotFound("no such profile") from None
    status = request.args.get("status")
    if status is not None and status not in SHELL_FILE_STATUSES:
        raise BadRequest(f"status must be one of {', '.join(SHELL_FILE_STATUSES)}")
    page = positive_int("page", 1, MAX_PAGE)
    per_page = positive_int("per_page", 20, MAX_PER_PAGE)
    session = request_session()
    profile = accessible_profile(session, g.account_id, pid, "read_only")
    query = select(ShellFile).where(ShellFile.patient_id == profile.id)
    if status is not None:
        query = query.where(ShellFile.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(ShellFile.created_at.desc(), ShellFile.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    stages = admin.current_stages(session, [row.id for row in rows])
    items = [shell_file_view(row, stages.get(row.id)) for row in rows]
    audit_read(
        session,
        table_name="shell_files",
        record_id=None,
        patient_id=profile.id,
        reason="list documents",
    )
    return jsonify(items=items, page=page, per_page=per_page, total=total)
