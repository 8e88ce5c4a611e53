"""Which profiles an account may reach.

Access to a profile comes from owning it or from a grant that is neither revoked nor
expired, at a level at least the one asked for. Anything else looks exactly like a
profile that does not exist (404), so ids do not leak.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, exists, or_, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound

from app.models import PERMISSION_LEVELS, ProfilePermission, UserProfile


def levels_at_least(level: str) -> tuple[str, ...]:
    return PERMISSION_LEVELS[PERMISSION_LEVELS.index(level) :]


def _reached_at(level: str) -> ColumnElement[bool]:
    """The profile `p_profile_id` is reached by account `p_account_id` at `level` or above:
    owned, or granted, not revoked, not expired, at such a level."""
    granted = exists().where(
        ProfilePermission.profile_id == UserProfile.id,
        ProfilePermission.account_id == bindparam("p_account_id"),
        ProfilePermission.revoked_at.is_(None),
        or_(
            ProfilePermission.expires_at.is_(None),
            ProfilePermission.expires_at > bindparam("p_now"),
        ),
        # Not `in_()`: its list is rendered into the SQL at every execution.
        or_(*(ProfilePermission.permission_level == each for each in levels_at_least(level))),
    )
    return and_(
        UserProfile.id == bindparam("p_profile_id"),
        or_(UserProfile.account_owner_id == bindparam("p_account_id"), granted),
    )


# Statements built once, one per level: the profile, or (for the upload, where loading an
# ORM object costs more than the query) only its archived flag.
_PROFILE_REACHED_AT = {
    level: select(UserProfile).where(_reached_at(level)) for level in PERMISSION_LEVELS
}
_ARCHIVED_REACHED_AT = {
    level: select(UserProfile.archived).where(_reached_at(level)) for level in PERMISSION_LEVELS
}


def _reach_params(account_id: uuid.UUID, profile_id: uuid.UUID) -> dict[str, Any]:
    return {"p_account_id": account_id, "p_profile_id": profile_id, "p_now": datetime.now(UTC)}


def accessible_profile(
    session: Session, account_id: uuid.UUID, profile_id: uuid.UUID, level: str
) -> UserProfile:
    """The profile, if the account reaches it at `level` or above; otherwise 404."""
    profile = session.scalar(_PROFILE_REACHED_AT[level], _reach_params(account_id, profile_id))
    if profile is None:
        raise NotFound("no such profile")
    return profile


def accessible_profile_archived(
    session: Session, account_id: uuid.UUID, profile_id: uuid.UUID, level: str
) -> bool:
    """`accessible_profile`, answering only whether the profile is archived."""
    archived: bool | None = (
        session.connection()
        .execute(_ARCHIVED_REACHED_AT[level], _reach_params(account_id, profile_id))
        .scalar()
    )
    if archived is None:
        raise NotFound("no such profile")
    return archived
