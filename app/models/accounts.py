"""Who signs in and whose records are kept: accounts, API tokens, profiles and grants."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, in_values, utcnow_sql

PROFILE_TYPES = ("self", "child", "pet", "dependent")
# Ordered weakest to strongest: a check for a level accepts any level after it.
PERMISSION_LEVELS = ("read_only", "read_write", "full_access", "owner")


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())
    # Carried in every signed web session; bumping it ends them all (`app.access.accounts`).
    session_version: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    deactivated_at: Mapped[datetime | None]


class ApiToken(Base):
    """A bearer token. Only its SHA-256 is stored: tokens are long random strings,
    so a fast hash is enough and keeps authentication cheap on every request."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class UserProfile(Base):
    """A person (or pet) whose records are kept. `id` is the patient id everywhere."""

    __tablename__ = "user_profiles"
    __table_args__ = (
        CheckConstraint(in_values("profile_type", PROFILE_TYPES), name="profile_type"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    account_owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    profile_type: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())
    # The rules its health record was made under (`app.pipeline.record.fold.RULES`); None
    # until it is first made. Older rules: the record is made again before it is changed.
    record_rules: Mapped[int | None] = mapped_column()


class ProfilePermission(Base):
    """A grant of one profile to another account, until revoked or expired."""

    __tablename__ = "profile_permissions"
    __table_args__ = (
        CheckConstraint(
            in_values("permission_level", PERMISSION_LEVELS[:-1]), name="permission_level"
        ),
        Index(
            "uq_profile_permissions_active",
            "profile_id",
            "account_id",
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
            sqlite_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    profile_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_profiles.id", ondelete="CASCADE")
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    permission_level: Mapped[str] = mapped_column(String(16))
    granted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL")
    )
    granted_at: Mapped[datetime] = mapped_column(server_default=utcnow_sql())
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
