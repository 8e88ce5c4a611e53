"""The database layer: no statement parameters (document text, names) in errors, and
pooled connections checked before use only after they sat idle.

(The server's own message may still quote a value it could not parse; that is why error
rows keep only a library exception's class: see app.runs.failures.describe.)"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.db import Database


def test_errors_do_not_list_statement_parameters(db_session: Session) -> None:
    with pytest.raises(DBAPIError) as failure:
        db_session.execute(
            text("SELECT CAST(:number AS integer), :name"),
            {"number": "x", "name": "Jane Example, born 1970-01-01"},
        )
    assert "Jane" not in str(failure.value)
    assert "hidden due to hide_parameters" in str(failure.value)


def _backend_pid(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


@pytest.fixture
def small_pool(app_database_url: str) -> Any:
    # The service's role: the tests' connections act as it, and may end its backends.
    db = Database(app_database_url, pool_size=1, ping_after_idle_s=0.2)
    yield db
    db.engine.dispose()


def test_a_connection_that_died_while_idle_is_replaced_before_use(
    small_pool: Database, db_session: Session
) -> None:
    pid = _backend_pid(small_pool)
    db_session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    time.sleep(0.3)  # longer than the idle window: the checkout pings and reconnects

    assert _backend_pid(small_pool) != pid


def test_a_connection_returned_moments_ago_is_used_without_a_ping(
    small_pool: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialect = small_pool.engine.dialect
    pings: list[object] = []
    real_ping = dialect.do_ping
    monkeypatch.setattr(dialect, "do_ping", lambda conn: pings.append(conn) or real_ping(conn))
    pid = _backend_pid(small_pool)

    for _ in range(5):
        assert _backend_pid(small_pool) == pid
    assert pings == []

    time.sleep(0.3)
    assert _backend_pid(small_pool) == pid
    assert len(pings) == 1
