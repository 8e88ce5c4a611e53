"""Who is calling, and which profiles they may reach.

API callers present `Authorization: Bearer <token>`; only the token's SHA-256 is
stored. Access to a profile comes from owning it or from a grant that is neither
revoked nor expired, at a level at least the one asked for. Anything else looks
exactly like a profile that does not exist (404), so ids do not leak.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime

from flask import g, request
from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound, Unauthorized

from app.models import PERMISSION_LEVELS, Account, ApiToken, ProfilePermission, UserProfile

TOKEN_PREFIX = "sfp_"  # noqa: S105 - a public marker, not a secret


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, account_id: uuid.UUID) -> str:
    """Create a token for the account; the plain token is returned once, never stored."""
    token = new_token()
    session.add(
        ApiToken(account_id=account_id, token_hash=hash_token(token), token_prefix=token[:12])
    )
    return token


def authenticate(session: Session) -> uuid.UUID:
    """Resolve the request's bearer token to an active account, or raise 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a bearer token is required")
    now = datetime.now(UTC)
    account_id = session.scalar(
        select(ApiToken.account_id)
        .join(Account, Account.id == ApiToken.account_id)
        .where(
            ApiToken.token_hash == hash_token(token.strip()),
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
            Account.is_active.is_(True),
        )
    )
    if account_id is None:
        raise Unauthorized("the bearer token is not valid")
    g.account_id = account_id
    return account_id


def levels_at_least(level: str) -> tuple[str, ...]:
    return PERMISSION_LEVELS[PERMISSION_LEVELS.index(level) :]


def accessible_profile(
    session: Session, account_id: uuid.UUID, profile_id: uuid.UUID, level: str
) -> UserProfile:
    """The profile, if the account reaches it at `level` or above; otherwise 404."""
    now = datetime.now(UTC)
    granted = exists().where(
        ProfilePermission.profile_id == UserProfile.id,
        ProfilePermission.account_id == account_id,
        ProfilePermission.revoked_at.is_(None),
        or_(ProfilePermission.expires_at.is_(None), ProfilePermission.expires_at > now),
        ProfilePermission.permission_level.in_(levels_at_least(level)),
    )
    profile = session.scalar(
        select(UserProfile).where(
            UserProfile.id == profile_id,
            or_(UserProfile.account_owner_id == account_id, granted),
        )
    )
    if profile is None:
        raise NotFound("no such profile")
    return profile
