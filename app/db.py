"""Engine and sessions.

One `Database` per process, made by the app factory. Requests get a session
scoped to the request (`request_session()`); tasks and commands open their own
with `db.session()`. SQLite (the embedded default) runs in WAL mode with foreign
keys on, so several processes can share it.

Who the database sees (PostgreSQL's row-level security, revision 0012; the policies'
rule is `app.access.identity`'s), set here and nowhere else: every connection opens as
the system (`app.system = on`, a libpq option: no round trip), which workers, beat,
commands and a web process's bookkeeping are; each transaction of a request's session
drops that flag and names the request's account (`app.account_id`), transaction-local,
so nothing outlives the transaction on a pooled connection. A request that has named
no account yet sees no patient rows.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import current_app, g, has_request_context
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # FULL: an upload answered 201 survives a power cut (NORMAL in WAL mode may lose
        # the last transactions).
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()


#: A pooled connection back in the pool for less than this is used again without a ping.
PING_AFTER_IDLE_S = 1.0


class _PingAfterIdle:
    """Check a pooled connection before use only if it sat idle in the pool a while.

    SQLAlchemy's `pool_pre_ping` pings at every checkout: under load that round trip
    (and the transaction PostgreSQL runs for it) cost an upload about a seventh of its
    CPU, to check a connection that was in use a millisecond ago. Like HikariCP's
    `aliveBypassWindowMs`, a connection returned within `idle_s` is trusted; an older
    one is pinged and, if dead, replaced before use (SQLAlchemy's documented
    `DisconnectionError` from a checkout listener). A database that restarts within
    `idle_s` of a connection's last use fails that one statement; SQLAlchemy then
    invalidates the whole pool, so the next checkout connects afresh.
    """

    def __init__(self, engine: Engine, idle_s: float) -> None:
        self.engine, self.idle_s = engine, idle_s
        event.listen(engine.pool, "checkin", self.checkin)
        event.listen(engine.pool, "checkout", self.checkout)

    @staticmethod
    def checkin(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        if dbapi_connection is not None:
            record.info["sfp_returned"] = (id(dbapi_connection), time.monotonic())

    def checkout(self, dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        returned = record.info.get("sfp_returned")
        if returned is None or returned[0] != id(dbapi_connection):
            return  # a connection made just now
        if time.monotonic() - returned[1] < self.idle_s:
            return
        try:
            alive = self.engine.dialect.do_ping(dbapi_connection)
        except self.engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("a pooled connection was found dead") from exc
        if not alive:
            raise DisconnectionError("a pooled connection was found dead")


#: The settings row-level security reads: the system flag, and the request's account.
SYSTEM_SETTING = "app.system"
ACCOUNT_SETTING = "app.account_id"
_SYSTEM_OPTIONS = f"-c {SYSTEM_SETTING}=on"
_ACT_AS = (
    f"SELECT set_config('{SYSTEM_SETTING}', 'off', true), set_config('{ACCOUNT_SETTING}', %s, true)"
)


def _request_account() -> str:
    account = g.get("account_id") if has_request_context() else None
    return str(account) if account else ""


def _act_for_request(session: Session, _tx: SessionTransaction, connection: Connection) -> None:
    """A request session's transaction acts as the request's account (see above)."""
    if session.info.get("request") and connection.dialect.name == "postgresql":
        connection.exec_driver_sql(_ACT_AS, (_request_account(),))


event.listen(Session, "after_begin", _act_for_request)


def act_as(session: Session, account_id: Any) -> None:
    """Name the request's account: `g.account_id`, and in the database at once when the
    request's transaction has begun (its later transactions take it from `g`)."""
    g.account_id = account_id
    if session.info.get("request") and session.in_transaction():
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(_ACT_AS, (str(account_id),))


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        pre_ping: bool = True,
        ping_after_idle_s: float = PING_AFTER_IDLE_S,
        **engine_options: Any,
    ) -> None:
        if url.startswith("sqlite"):
            engine_options.setdefault("connect_args", {"timeout": 30})
        else:
            engine_options.setdefault("pool_size", pool_size)
            engine_options.setdefault("max_overflow", 10)
            engine_options.setdefault("connect_args", {"options": _SYSTEM_OPTIONS})
        # Statement parameters carry document text and names: keep them out of exception
        # messages and logs.
        engine_options.setdefault("hide_parameters", True)
        self.engine: Engine = create_engine(url, **engine_options)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        elif pre_ping:
            _PingAfterIdle(self.engine, ping_after_idle_s)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self.sessionmaker() as session, session.begin():
            yield session

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection outside any transaction: each statement commits by itself."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            yield connection

    def dispose_after_fork(self) -> None:
        """Drop connections inherited from a parent process without closing them."""
        self.engine.dispose(close=False)


def get_db() -> Database:
    db: Database = current_app.extensions["db"]
    return db


def request_session() -> Session:
    """The session of the current request, opened on first use, closed at teardown."""
    if "db_session" not in g:
        g.db_session = get_db().sessionmaker(info={"request": True})
    session: Session = g.db_session
    return session


def close_request_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
