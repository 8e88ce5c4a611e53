"""Session-wide real services: a fresh PostgreSQL database, a private Redis, one Celery worker.

API tests run inside a transaction that rolls back (`db_session`). Pipeline tests
(`worker`) commit for real, because the worker is another process; each builds
its own account and profile, so they do not see each other's rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from app.models import APP_ROLE
from tests.support.clamd import FakeClamd
from tests.support.documents import Corpus
from tests.support.samples import Samples, generate
from tests.support.services import (
    ACT_AS_SYSTEM,
    RedisServer,
    app_role_url,
    drop_database,
    fresh_database,
    migrate,
    service_environment,
)
from tests.support.workers import WorkerProcess, start_worker

TEST_DATABASE = "sfp_test"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A database of this session's own, so concurrent test runs never collide."""
    name = f"{TEST_DATABASE}_{os.getpid()}"
    url = fresh_database(name)
    migrate(url)
    yield url
    drop_database(name)


@pytest.fixture(scope="session")
def app_database_url(database_url: str) -> str:
    """The session's database as the application's role: not the tables' owner, no
    superuser, so the audit tables' grants and row-level security hold as in production."""
    return app_role_url(database_url)


@pytest.fixture(scope="session")
def service_env(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    database_url: str,
    app_database_url: str,
) -> Iterator[dict[str, str]]:
    """The environment of this test session's processes (this one and the worker): they
    connect as the application's role. Retries are shortened to a 1 s base and 3 retries;
    heartbeats to 0.5 s.
    """
    env = service_environment(
        database_url,
        redis_server.url,
        tmp_path_factory.mktemp("data"),
        app_database_url=app_database_url,
    )
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def app(service_env: dict[str, str]) -> Flask:
    from app import create_app

    return create_app({"testing": True})


@pytest.fixture(scope="session")
def owner_engine(database_url: str) -> Iterator[Engine]:
    """The tables' owner (a superuser here), for the `db_session` connections, which act as
    the application's role but may step out of it (`as_owner`) to tamper as a test must."""
    engine = create_engine(
        database_url, connect_args={"options": "-c app.system=on"}, hide_parameters=True
    )
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(app: Flask, owner_engine: Engine) -> Iterator[Session]:
    """Bind the app to one connection inside a transaction that is rolled back afterwards.

    The connection acts as the application's role (`SET ROLE`), so grants and row-level
    security apply as they do to the service; the test's own session acts as the system.
    A request's transaction names its account only until it ends (`app.db`): where it
    ends in a savepoint of this connection, the system is named again, as a real
    connection's transaction would have reverted it."""
    db = app.extensions["db"]
    connection = owner_engine.connect()
    outer = connection.begin()
    connection.exec_driver_sql(f"SET ROLE {APP_ROLE}")  # until the rollback below
    original = db.sessionmaker
    db.sessionmaker = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )

    @event.listens_for(db.sessionmaker, "after_transaction_end")
    def _system_again(ended: Session, transaction: SessionTransaction) -> None:
        if ended.info.get("request") and transaction.parent is None and outer.is_active:
            connection.exec_driver_sql(ACT_AS_SYSTEM)

    session = db.sessionmaker()
    try:
        yield session
    finally:
        session.close()
        db.sessionmaker = original
        outer.rollback()
        connection.close()


@pytest.fixture
def client(app: Flask, db_session: Session) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def clamd_server() -> Iterator[FakeClamd]:
    with FakeClamd() as server:
        yield server


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Samples:
    return generate(tmp_path_factory.mktemp("samples"))


@pytest.fixture(scope="session")
def worker(
    service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """The session's one Celery worker: both queues, prefork, with beat embedded (-B)."""
    try:
        handle = start_worker(service_env, tmp_path_factory.mktemp("worker"), beat=True)
    except AssertionError as exc:
        pytest.fail(f"the Celery worker did not start: {exc}")
    yield handle
    handle.stop()  # a warm shutdown: running tasks finish first


@pytest.fixture
def broker_client(redis_server: RedisServer) -> redis.Redis:
    return redis_server.client()
