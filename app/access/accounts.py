"""What ends an account's access: its web sessions, its API tokens, the account itself.

A web session carries the account's `session_version`; a request whose session carries
another is signed out (`session_is_current`). Signing out everywhere, a new password
and deactivation bump it. Tokens are revoked or expire one by one; a deactivated
account's tokens all stop (the token rule, `app.access.tokens.account_of_token`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import Account, ApiToken

SESSION_ACCOUNT_KEY = "account_id"
SESSION_VERSION_KEY = "sv"


def session_values(account: Account) -> dict[str, Any]:
    """What a web session signed for this account holds."""
    return {SESSION_ACCOUNT_KEY: str(account.id), SESSION_VERSION_KEY: account.session_version}


def session_is_current(account: Account | None, session: Mapping[str, Any]) -> bool:
    """Whether a web session still signs this account in: active, and not ended since."""
    return (
        account is not None
        and account.is_active
        and session.get(SESSION_VERSION_KEY) == account.session_version
    )


def end_sessions(db: Session, account: Account) -> None:
    """End every web session of the account, on every device (flushes)."""
    db.execute(
        update(Account)
        .where(Account.id == account.id)
        .values(session_version=Account.session_version + 1)
    )
    db.refresh(account, ["session_version"])


def set_password(db: Session, account: Account, password_hash: str) -> None:
    """Give the account a new password; sessions signed in with the old one end."""
    account.password_hash = password_hash
    end_sessions(db, account)


def deactivate(db: Session, account: Account) -> None:
    """No sign-in, no session and no token works for the account any more."""
    account.is_active = False
    if account.deactivated_at is None:
        account.deactivated_at = datetime.now(UTC)
    end_sessions(db, account)


def revoke_tokens(
    db: Session, *, token_id: uuid.UUID | None = None, prefix: str | None = None
) -> list[ApiToken]:
    """Revoke the live token with this id, or with this prefix (as `tokens list` shows
    it); returns those revoked (none: no such live token)."""
    query = select(ApiToken).where(ApiToken.revoked_at.is_(None))
    if token_id is not None:
        query = query.where(ApiToken.id == token_id)
    elif prefix:
        query = query.where(ApiToken.token_prefix == prefix)
    else:
        raise ValueError("a token id or prefix is needed")
    found = list(db.scalars(query))
    for token in found:
        token.revoked_at = datetime.now(UTC)
    db.flush()
    return found


def token_refusal(db: Session, token_hash: str) -> str:
    """Why a token the token rule refused is refused, for its holder's 401."""
    row = db.execute(
        select(ApiToken.revoked_at, ApiToken.expires_at, Account.is_active)
        .join(Account, Account.id == ApiToken.account_id)
        .where(ApiToken.token_hash == token_hash)
    ).first()
    if row is None:
        return "the bearer token is not valid"
    if not row.is_active:
        return "the account of this bearer token is deactivated"
    if row.revoked_at is not None:
        return "the bearer token has been revoked"
    return "the bearer token has expired"
