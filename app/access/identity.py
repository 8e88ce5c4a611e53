"""The second wall behind the access rules: row-level security's predicate.

On PostgreSQL the tables that hold patient data carry row-level security policies
(revision 0012), rendered here from the live-grant rule (`live_grant`, `reaches`,
read_only or above), so the database and the application's queries hold the same rule:
the caller's connection acts as the system (`app.system = 'on'`: workers, beat,
commands, a web process's bookkeeping) or as the account its request named
(`app.account_id`). `app.db` sets both, in one place.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, func, literal_column, select, union_all
from sqlalchemy.dialects import postgresql

from app.access.grants import levels_at_least, live_grant
from app.db import ACCOUNT_SETTING, SYSTEM_SETTING
from app.models import ProfilePermission, UserProfile

#: The caller's account as the policies read it (NULL when none is named).
CALLER_SQL = f"NULLIF(current_setting('{ACCOUNT_SETTING}', true), '')::uuid"
#: The caller acts as the system.
SYSTEM_SQL = f"coalesce(current_setting('{SYSTEM_SETTING}', true), '') = 'on'"


def reachable_profiles_sql() -> str:
    """The profiles the caller reaches (read_only or above), as SQL for the policies:
    `patient_id IN (this)`, which PostgreSQL evaluates once per statement (a hashed
    subplan), not once per row. The rule is `reaches` (owned, or a live grant at such a
    level), written as its two arms so that each uses its index; a test runs the
    access-matrix callers through this and through `reaches` and compares them."""
    caller: ColumnElement[Any] = literal_column(CALLER_SQL)
    owned = select(UserProfile.id).where(UserProfile.account_owner_id == caller)
    granted = select(ProfilePermission.profile_id).where(
        live_grant(caller, func.now()),
        ProfilePermission.permission_level.in_(levels_at_least("read_only")),
    )
    rule: CompoundSelect[Any] = union_all(owned, granted)
    rendered = rule.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    return str(rendered).replace("\n", " ")
