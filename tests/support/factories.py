"""Small builders of rows. Names are synthetic; no real person's data appears in tests."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.access.tokens import issue_token
from app.models import Account, ProfilePermission, ShellFile, UserProfile

_counter = itertools.count()


def make_account(session: Session, email: str | None = None) -> tuple[Account, str]:
    account = Account(
        id=uuid.uuid4(), email=email or f"user{next(_counter)}-{uuid.uuid4().hex[:6]}@example.test"
    )
    session.add(account)
    session.flush()
    token = issue_token(session, account.id)
    session.flush()
    return account, token


def make_profile(
    session: Session, owner: Account, profile_type: str = "self", name: str = "Test Patient"
) -> UserProfile:
    profile = UserProfile(
        id=uuid.uuid4(), account_owner_id=owner.id, profile_type=profile_type, display_name=name
    )
    session.add(profile)
    session.flush()
    return profile


def grant(
    session: Session,
    profile: UserProfile,
    account: Account,
    level: str,
    *,
    expires_at: datetime | None = None,
    revoked_at: datetime | None = None,
) -> ProfilePermission:
    permission = ProfilePermission(
        id=uuid.uuid4(),
        profile_id=profile.id,
        account_id=account.id,
        permission_level=level,
        expires_at=expires_at,
        revoked_at=revoked_at,
    )
    session.add(permission)
    session.flush()
    return permission


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_shell_file(
    session: Session, patient_id: uuid.UUID, uploaded_by: uuid.UUID | None, **fields: Any
) -> ShellFile:
    """A shell file whose bytes are never read (`storage_key` points nowhere): for tests of
    the engine, where stages are scripted. `fields` override the defaults."""
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "patient_id": patient_id,
        "uploaded_by": uploaded_by,
        "original_filename": "a.pdf",
        "mime_type": "application/pdf",
        "file_size_bytes": 1,
        "sha256": uuid.uuid4().hex,
        "storage_key": "db:none",
        "processing_priority": 5,
    }
    shell_file = ShellFile(**(values | fields))
    session.add(shell_file)
    session.flush()
    return shell_file
