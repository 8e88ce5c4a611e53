"""Who is calling: API bearer tokens.

API callers present `Authorization: Bearer <token>`; only the token's SHA-256 is
stored. A token is valid while it is neither revoked nor expired and its account is
active.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import g, request
from sqlalchemy import ColumnElement, Select, bindparam, or_, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import Unauthorized

from app.access.accounts import token_refusal
from app.db import act_as
from app.models import Account, ApiToken, table_of

TOKEN_PREFIX = "sfp_"  # noqa: S105 - a public marker, not a secret


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session, account_id: uuid.UUID, *, expires_at: datetime | None = None
) -> str:
    """Create a token for the account, valid until `expires_at` (None: until revoked); the
    plain token is returned once, never stored."""
    return issue_token_row(session, account_id, expires_at=expires_at)[1]


def issue_token_row(
    session: Session, account_id: uuid.UUID, *, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """`issue_token`, also returning the token's row (its id and prefix, to revoke it by)."""
    token = new_token()
    row = ApiToken(
        id=uuid.uuid4(),
        account_id=account_id,
        token_hash=hash_token(token),
        token_prefix=token[:12],
        expires_at=expires_at,
    )
    session.add(row)
    return row, token


_tokens, _accounts = table_of(ApiToken), table_of(Account)


def account_of_token(token_hash: ColumnElement[Any], now: ColumnElement[Any]) -> Select[Any]:
    """The token rule: the account of the token with this hash, if the token is neither
    revoked nor expired at `now` and its account is active. Written once: every request's
    look-up and the upload's one statement (rendered to SQL by `app.documents.upload`)
    are built from it."""
    return (
        select(_tokens.c.account_id)
        .join(_accounts, _accounts.c.id == _tokens.c.account_id)
        .where(
            _tokens.c.token_hash == token_hash,
            _tokens.c.revoked_at.is_(None),
            or_(_tokens.c.expires_at.is_(None), _tokens.c.expires_at > now),
            _accounts.c.is_active.is_(True),
        )
    )


# The statement every API request runs, built once (SQLAlchemy caches its compiled form).
_ACCOUNT_OF_TOKEN = account_of_token(bindparam("p_token_hash"), bindparam("p_now"))


#: How long this process remembers a token it verified, for `authenticate(deferred=True)`.
RECENT_TOKEN_S = 60.0
_RECENT_TOKENS_MAX = 10_000
_recent_tokens: dict[str, tuple[uuid.UUID, float]] = {}


def authenticate(session: Session, *, deferred: bool = False) -> uuid.UUID:
    """Resolve the request's bearer token to an active account, or raise 401.

    With `deferred`, a token this process verified within `RECENT_TOKEN_S` is taken
    without a query, and `g.token_to_verify` holds its hash: the caller must verify it in
    the statement that uses it (as the upload does, `app.documents.upload`), so a revoked token is
    still refused there. The look-up it spares only stands between a client and its body
    being read; an unknown token is always checked first.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a bearer token is required")
    token_hash = hash_token(token.strip())
    g.token_to_verify = None
    if deferred and (known := _recent_tokens.get(token_hash)) is not None:
        account_id, verified_at = known
        if time.monotonic() - verified_at < RECENT_TOKEN_S:
            act_as(session, account_id)
            g.token_to_verify = token_hash
            return account_id
    found = _account_of(session, token_hash)
    if found is None:
        _recent_tokens.pop(token_hash, None)
        raise Unauthorized(token_refusal(session, token_hash))
    if len(_recent_tokens) >= _RECENT_TOKENS_MAX:
        _recent_tokens.clear()
    _recent_tokens[token_hash] = (found, time.monotonic())
    act_as(session, found)  # g.account_id, and the database's row-level security
    return found


def verify_token(session: Session, token_hash: str, account_id: uuid.UUID) -> None:
    """Check now a token `authenticate(deferred=True)` took on trust; 401 if invalid."""
    if _account_of(session, token_hash) != account_id:
        forget_token(token_hash)
        raise Unauthorized(token_refusal(session, token_hash))


def _account_of(session: Session, token_hash: str) -> uuid.UUID | None:
    """The active account whose valid token has this hash, if any."""
    found: uuid.UUID | None = (
        session.connection()
        .execute(_ACCOUNT_OF_TOKEN, {"p_token_hash": token_hash, "p_now": datetime.now(UTC)})
        .scalar()
    )
    return found


def forget_token(token_hash: str) -> None:
    """Drop a token found invalid by a statement that verified it."""
    _recent_tokens.pop(token_hash, None)
