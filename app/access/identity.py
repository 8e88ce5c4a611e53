"""The second wall behind the access rules: row-level security's predicate.

On PostgreSQL the tables that hold patient data carry row-level security policies
(revision 0011). Each calls the SQL function `sfp_reaches(profile uuid)`, whose body is
rendered here from the live-grant rule (`reaches`, read_only or above), so the database
and the application's queries hold the same rule: the caller's connection acts as the
system (`app.system = 'on'`: workers, beat, commands, a web process's bookkeeping) or as
the account its request named (`app.account_id`). `app.db` sets both, in one place.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.dialects import postgresql

from app.access.grants import reaches
from app.db import ACCOUNT_SETTING, SYSTEM_SETTING

#: The caller's account as the policies read it (NULL when none is named).
CALLER_SQL = f"NULLIF(current_setting('{ACCOUNT_SETTING}', true), '')::uuid"
#: The caller acts as the system.
SYSTEM_SQL = f"coalesce(current_setting('{SYSTEM_SETTING}', true), '') = 'on'"


def reach_function_body(profile: str = "profile") -> str:
    """The body of `sfp_reaches(profile uuid)`: the system, or the caller reaching the
    profile named `profile` (read_only or above) by `reaches`."""
    rule: Select[Any] = select(literal_column("1")).where(
        reaches(
            "read_only",
            account=literal_column(CALLER_SQL),
            profile=literal_column(profile),
            now=func.now(),
        )
    )
    rendered = rule.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    return f"SELECT {SYSTEM_SQL} OR EXISTS ({rendered})"
