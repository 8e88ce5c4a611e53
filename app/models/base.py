"""What every table shares: the declarative base, naming convention and portable types.

Types are portable between PostgreSQL (production) and SQLite (the embedded
default): UUID primary keys, JSON that becomes JSONB on PostgreSQL, and
timezone-aware timestamps.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, DateTime, MetaData, Table, Uuid, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase

JSONType = JSON().with_variant(JSONB(), "postgresql")

#: The PostgreSQL role the web and worker processes run as (revision 0012 creates it): it
#: owns nothing, may only read and append the audit tables, and is subject to row-level
#: security. Migrations run as the tables' owner.
APP_ROLE = "sfp_app"

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def in_values(column: str, values: tuple[str, ...]) -> str:
    """A CHECK constraint's condition: `column` holds one of `values`."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def table_of(model: type[Base]) -> Table:
    """A mapped class's table, for Core statements on hot paths (no ORM bookkeeping)."""
    return cast(Table, model.__table__)


def utcnow_sql() -> Any:
    # CURRENT_TIMESTAMP, unlike now(), exists in both PostgreSQL and SQLite.
    return func.current_timestamp()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: DateTime(timezone=True),
        uuid.UUID: Uuid(),
        dict[str, Any]: JSONType,
    }
