"""Which profiles an account may reach.

Access to a profile comes from owning it or from a grant that is neither revoked nor
expired, at a level at least the one asked for. An archived profile is read-only for
every grantee: only its owner may still change it (reprocess, cancel, archive or
delete a document). Anything else looks exactly like a profile that does not exist
(404), so ids do not leak.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, exists, literal_column, or_, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound

from app.models import PERMISSION_LEVELS, ProfilePermission, ShellFile, UserProfile


def levels_at_least(level: str) -> tuple[str, ...]:
    return PERMISSION_LEVELS[PERMISSION_LEVELS.index(level) :]


#: The parameters access queries take, unless a caller names its own.
ACCOUNT: ColumnElement[Any] = bindparam("p_account_id")
PROFILE: ColumnElement[Any] = bindparam("p_profile_id")
NOW: ColumnElement[Any] = bindparam("p_now")


def live_grant(account: ColumnElement[Any], now: ColumnElement[Any]) -> ColumnElement[bool]:
    """The live-grant rule: a grant to `account` that is neither revoked nor expired at
    `now`. Every query of access builds on it, the upload's one statement too (rendered
    to SQL by `app.documents.upload`), so the rule is written once."""
    return and_(
        ProfilePermission.account_id == account,
        ProfilePermission.revoked_at.is_(None),
        or_(ProfilePermission.expires_at.is_(None), ProfilePermission.expires_at > now),
    )


def reaches(
    level: str,
    *,
    account: ColumnElement[Any] = ACCOUNT,
    profile: ColumnElement[Any] = PROFILE,
    now: ColumnElement[Any] = NOW,
) -> ColumnElement[bool]:
    """The profile `profile` is reached by `account` at `level` or above: owned, or held
    through a live grant at such a level (above read_only, on a profile not archived).
    A predicate on `user_profiles`."""
    granted = (
        exists()
        .where(
            ProfilePermission.profile_id == UserProfile.id,
            live_grant(account, now),
            # Not `in_()`: its list is rendered into the SQL at every execution. The
            # levels are this module's own constants, written into the SQL as literals.
            or_(
                *(
                    ProfilePermission.permission_level == literal_column(f"'{each}'")
                    for each in levels_at_least(level)
                )
            ),
        )
        .correlate(UserProfile)
    )
    # An archived profile is read-only to everyone but its owner.
    grantee: ColumnElement[bool] = (
        granted if level == PERMISSION_LEVELS[0] else and_(granted, UserProfile.archived.is_(False))
    )
    return and_(UserProfile.id == profile, or_(UserProfile.account_owner_id == account, grantee))


# Statements built once, one per level: the profile, or (for the upload, where loading an
# ORM object costs more than the query) only its archived flag.
_PROFILE_REACHED_AT = {
    level: select(UserProfile).where(reaches(level)) for level in PERMISSION_LEVELS
}
_ARCHIVED_REACHED_AT = {
    level: select(UserProfile.archived).where(reaches(level)) for level in PERMISSION_LEVELS
}


def reachable_profiles(session: Session, account_id: uuid.UUID) -> list[tuple[UserProfile, str]]:
    """Profiles the account owns or holds a live grant to, each with the access it has
    (`owner`, or the grant's level), oldest first."""
    grants = (
        select(ProfilePermission.profile_id, ProfilePermission.permission_level)
        .where(live_grant(ACCOUNT, NOW))
        .subquery()
    )
    rows = session.execute(
        select(UserProfile, grants.c.permission_level)
        .outerjoin(grants, grants.c.profile_id == UserProfile.id)
        .where(
            or_(
                UserProfile.account_owner_id == ACCOUNT,
                grants.c.profile_id.is_not(None),
            )
        )
        .order_by(UserProfile.created_at, UserProfile.id),
        {"p_account_id": account_id, "p_now": datetime.now(UTC)},
    ).all()
    return [
        (profile, "owner" if profile.account_owner_id == account_id else level)
        for profile, level in rows
    ]


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


def accessible_document(
    session: Session, account_id: uuid.UUID, shell_file_id: str, level: str = "read_only"
) -> ShellFile:
    """The shell file, if the account reaches its profile at `level` or above.

    Raises NotFound (404) for an id that is not a UUID, no such document, or one the
    account may not reach at that level: the three look alike, so ids do not leak.
    """
    try:
        sf_id = uuid.UUID(shell_file_id)
    except ValueError:
        raise NotFound("no such shell file") from None
    shell_file = session.get(ShellFile, sf_id)
    if shell_file is None:
        raise NotFound("no such shell file")
    try:
        accessible_profile(session, account_id, shell_file.patient_id, level)
    except NotFound:
        raise NotFound("no such shell file") from None
    return shell_file
