"""The audit log's chain: sealed rows verify; an edited or deleted row is named; without the
key nobody can seal again; a signed head shows when the newest rows are gone; TRUNCATE is
refused; the application's role cannot alter the audit tables."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from app.audit import (
    _canonical,
    chain_key,
    log_audit_event,
    seal_hash,
    seal_pending,
    verify_chain,
)
from app.config import ConfigError, Settings
from app.models import APP_ROLE, AUDIT_TABLES, AuditLog, AuditSeal
from tests.support.services import AUDIT_HMAC_KEY, drop_database, fresh_database, migrate

KEY = AUDIT_HMAC_KEY.encode()


@pytest.fixture
def sealed(app, db_session: Session) -> list[int]:
    patient = uuid.uuid4()
    for reason in ("view document status", "download original document", "list documents"):
        log_audit_event(
            db_session,
            operation="read",
            table_name="shell_files",
            record_id=uuid.uuid4(),
            patient_id=patient,
            reason=reason,
        )
    db_session.commit()
    result = app.test_cli_runner().invoke(args=["audit", "seal", "--settle", "0"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["sealed"] >= 3
    return list(db_session.scalars(select(AuditLog.id).where(AuditLog.patient_id == patient)))


def verify(app: Flask, *args: str) -> tuple[int, dict]:
    result = app.test_cli_runner().invoke(args=["audit", "verify", *args])
    return result.exit_code, json.loads(result.output)


def tamper(db_session: Session, statement: str, audit_id: int, table: str = "audit_log") -> None:
    # Only the owner can lift the append-only guard (the app's role cannot): the test's
    # connection steps out of the role for it; the test transaction rolls it all back.
    db_session.execute(text("RESET ROLE"))
    db_session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only"))
    db_session.execute(text(statement), {"id": audit_id})
    db_session.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only"))
    db_session.execute(text(f"SET ROLE {APP_ROLE}"))
    db_session.expire_all()


def newest_seal(db_session: Session) -> int:
    newest: int = db_session.scalar(select(func.max(AuditSeal.audit_id)))
    return newest


def test_a_sealed_log_verifies(app, sealed) -> None:
    code, report = verify(app)
    assert code == 0 and report["ok"] and report["checked"] >= len(sealed)


def test_seals_are_keyed(db_session: Session, sealed) -> None:
    seal = db_session.get(AuditSeal, sealed[-1])
    row = db_session.get(AuditLog, sealed[-1])
    assert seal is not None and row is not None and seal.keyed
    assert seal.row_hash == seal_hash(seal.prev_hash, row, KEY)
    assert seal.row_hash != seal_hash(seal.prev_hash, row, None)


def test_an_edited_row_is_named(app, db_session: Session, sealed) -> None:
    tamper(db_session, "UPDATE audit_log SET reason = 'nothing to see' WHERE id = :id", sealed[1])

    code, report = verify(app)

    assert code == 1 and not report["ok"]
    assert (report["first_broken"], report["reason"]) == (sealed[1], "row or seal altered")


def test_a_deleted_row_is_named(app, db_session: Session, sealed) -> None:
    tamper(db_session, "DELETE FROM audit_log WHERE id = :id", sealed[0])

    code, report = verify(app)

    assert code == 1 and (report["first_broken"], report["reason"]) == (sealed[0], "row deleted")


@pytest.mark.parametrize("mark_unkeyed", [False, True], ids=["as-keyed", "as-unkeyed"])
def test_a_row_sealed_again_without_the_key_is_caught(
    app, db_session: Session, sealed, mark_unkeyed: bool
) -> None:
    """Someone with the database but not the key edits the newest row and seals it again,
    as a keyless chain would let them (and, in the second case, marks the seal as one of
    the keyless seals written before the key)."""
    newest = newest_seal(db_session)
    tamper(db_session, "UPDATE audit_log SET reason = 'nothing to see' WHERE id = :id", newest)
    row = db_session.get(AuditLog, newest)
    prev = db_session.scalar(select(AuditSeal.prev_hash).where(AuditSeal.audit_id == newest))
    assert row is not None and prev is not None
    forged = hashlib.sha256(prev.encode() + b"\n" + _canonical(row)).hexdigest()
    unkeyed = ", keyed = false" if mark_unkeyed else ""
    tamper(
        db_session,
        f"UPDATE audit_chain SET row_hash = '{forged}'{unkeyed} WHERE audit_id = :id",
        newest,
        table="audit_chain",
    )

    code, report = verify(app)

    assert code == 1 and (report["first_broken"], report["reason"]) == (
        newest,
        "row or seal altered",
    )


def test_sealing_twice_adds_nothing(app, db_session: Session, sealed) -> None:
    count = db_session.scalar(select(func.count()).select_from(AuditLog))
    result = app.test_cli_runner().invoke(args=["audit", "seal", "--settle", "0"])
    assert json.loads(result.output)["sealed"] == 0
    assert db_session.scalar(select(func.count()).select_from(AuditLog)) == count


def signed_head(app: Flask, tmp_path: Path) -> tuple[dict, Path]:
    result = app.test_cli_runner().invoke(args=["audit", "head"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "head.json"
    path.write_text(result.output)
    return json.loads(result.output), path


def test_the_head_names_the_end_of_the_chain(
    app, db_session: Session, sealed, tmp_path: Path
) -> None:
    head, path = signed_head(app, tmp_path)

    newest = newest_seal(db_session)
    assert head["seq"] == db_session.scalar(select(func.count()).select_from(AuditSeal))
    assert head["audit_id"] == newest
    assert head["mac"] == db_session.get(AuditSeal, newest).row_hash
    assert set(head) == {"seq", "audit_id", "mac", "at", "signature"}
    assert verify(app, "--head", str(path)) == (0, {**verify(app)[1]})


def test_deleting_the_newest_rows_is_caught_by_the_head(
    app, db_session: Session, sealed, tmp_path: Path
) -> None:
    _, path = signed_head(app, tmp_path)
    newest = newest_seal(db_session)
    tamper(db_session, "DELETE FROM audit_log WHERE id = :id", newest)
    tamper(db_session, "DELETE FROM audit_chain WHERE audit_id = :id", newest, "audit_chain")

    assert verify(app)[0] == 0  # what is left still holds together
    code, report = verify(app, "--head", str(path))

    assert code == 1 and (report["first_broken"], report["reason"]) == (
        newest,
        "the chain ends before the head",
    )


@pytest.mark.parametrize(
    "change",
    [{"seq": 1}, {"mac": "0" * 64}, {"signature": "f" * 64}, {"seq": "many"}, None],
    ids=["seq", "mac", "signature", "malformed", "not-json"],
)
def test_a_forged_head_is_refused(
    app, db_session: Session, sealed, tmp_path: Path, change: dict | None
) -> None:
    head, path = signed_head(app, tmp_path)
    path.write_text("{not json" if change is None else json.dumps({**head, **change}))

    code, report = verify(app, "--head", str(path))

    assert code == 1 and not report["ok"] and "head" in report["reason"]


def test_a_broken_chain_gets_no_head(app, db_session: Session, sealed) -> None:
    tamper(db_session, "UPDATE audit_log SET reason = 'nothing to see' WHERE id = :id", sealed[1])

    result = app.test_cli_runner().invoke(args=["audit", "head"])

    assert result.exit_code == 1 and json.loads(result.output)["first_broken"] == sealed[1]


@pytest.mark.parametrize("table", AUDIT_TABLES)
def test_truncate_is_refused_even_to_the_owner(database_url: str, table: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            transaction = connection.begin()
            try:
                with pytest.raises(Exception, match="append-only") as caught:
                    connection.execute(text(f"TRUNCATE {table}"))
                assert isinstance(caught.value.orig, psycopg.errors.RaiseException)
            finally:
                transaction.rollback()
    finally:
        engine.dispose()


def test_the_key_is_required_with_postgresql_and_must_be_long() -> None:
    with pytest.raises(ConfigError, match="AUDIT_HMAC_KEY"):
        chain_key(Settings.from_env({"DATABASE_URL": "postgresql://db/x"}))
    with pytest.raises(ConfigError, match="AUDIT_HMAC_KEY"):
        Settings.from_env({"AUDIT_HMAC_KEY": "short"})
    settings = Settings.from_env({"DATABASE_URL": "postgresql://db/x", "AUDIT_HMAC_KEY": "k" * 32})
    assert chain_key(settings) == b"k" * 32


def test_the_embedded_default_keeps_a_private_key_file(tmp_path: Path) -> None:
    settings = Settings.from_env({"DATA_DIR": str(tmp_path / "var")})

    key = chain_key(settings)

    path = tmp_path / "var" / "audit_hmac_key"
    assert len(key) == 64 and chain_key(settings) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [each.name for each in path.parent.iterdir()] == ["audit_hmac_key"]


# The application's role, as the migration creates it.


@pytest.fixture
def app_role(app_database_url: str) -> Iterator[psycopg.Connection]:
    """A connection as the service's role (NOLOGIN as migrated; the tests give it one)."""
    dsn = app_database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as connection:
        assert connection.execute("SELECT current_user").fetchone() == (APP_ROLE,)
        yield connection
        connection.rollback()


def test_the_app_role_is_no_superuser_and_owns_nothing(app_role: psycopg.Connection) -> None:
    role = app_role.execute(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles"
        " WHERE rolname = current_user"
    ).fetchone()
    owned = app_role.execute(
        "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles"
        " WHERE rolname = current_user)"
    ).fetchone()
    assert role == (False, False, False, False) and owned == (0,)


@pytest.mark.parametrize("table", AUDIT_TABLES)
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {table} SET {column} = {column}",
        "DELETE FROM {table}",
        "TRUNCATE {table}",
        "ALTER TABLE {table} DISABLE TRIGGER {table}_append_only",
        "DROP TRIGGER {table}_append_only ON {table}",
        "DROP TABLE {table}",
    ],
)
def test_the_app_role_cannot_alter_the_audit_tables(
    app_role: psycopg.Connection, table: str, statement: str
) -> None:
    column = "reason" if table == "audit_log" else "row_hash"
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_role.execute(statement.format(table=table, column=column))


def test_the_app_role_does_its_normal_work(app_role: psycopg.Connection) -> None:
    audit_id = app_role.execute(
        "INSERT INTO audit_log (actor_type, table_name, operation, reason, compliance_category)"
        " VALUES ('system', 'shell_files', 'read', 'role test', 'test') RETURNING id"
    ).fetchone()
    assert audit_id is not None
    app_role.execute(
        "INSERT INTO audit_chain (audit_id, prev_hash, row_hash, keyed) VALUES (%s, %s, %s, true)",
        (audit_id[0], "0" * 64, "1" * 64),
    )
    account = uuid.uuid4()
    app_role.execute(
        "INSERT INTO accounts (id, email) VALUES (%s, %s)", (account, f"{account}@role.test")
    )
    app_role.execute("UPDATE accounts SET email = email WHERE id = %s", (account,))
    app_role.execute("DELETE FROM accounts WHERE id = %s", (account,))
    assert app_role.execute("SELECT count(*) FROM audit_chain").fetchone() is not None


def test_seals_made_before_the_key_keep_verifying(tmp_path: Path) -> None:
    """A database sealed by the keyless chain of revision 0005 is upgraded: its old seals
    verify, later ones are keyed and chain onto them, and an old row edited is still
    named."""
    name = f"sfp_audit_upgrade_{os.getpid()}"
    url = fresh_database(name)
    engine = create_engine(url)
    try:
        migrate(url, "0009")
        with engine.begin() as connection:
            for reason in ("before the key", "also before"):
                connection.execute(
                    text(
                        "INSERT INTO audit_log (actor_type, table_name, operation, reason,"
                        " compliance_category) VALUES ('system', 't', 'read', :r, 'test')"
                    ),
                    {"r": reason},
                )
            prev = "0" * 64
            for row in connection.execute(text("SELECT * FROM audit_log ORDER BY id")).all():
                row_hash = hashlib.sha256(prev.encode() + b"\n" + _canonical(row)).hexdigest()
                connection.execute(
                    text(
                        "INSERT INTO audit_chain (audit_id, prev_hash, row_hash)"
                        " VALUES (:i, :p, :h)"
                    ),
                    {"i": row.id, "p": prev, "h": row_hash},
                )
                prev = row_hash
        migrate(url)
        with Session(engine) as session, session.begin():
            log_audit_event(session, operation="read", table_name="t", record_id=None,
                            patient_id=None, reason="after the key")  # fmt: skip
        with Session(engine) as session, session.begin():
            assert seal_pending(session, key=KEY, settle=timedelta(0)) == 1
        with Session(engine) as session:
            keyed = session.scalars(select(AuditSeal.keyed).order_by(AuditSeal.audit_id)).all()
            assert keyed == [False, False, True]
            assert verify_chain(session, KEY).ok
            first = session.scalars(select(AuditSeal.audit_id).order_by(AuditSeal.audit_id)).first()
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
            connection.execute(
                text("UPDATE audit_log SET reason = 'x' WHERE id = :i"), {"i": first}
            )
        with Session(engine) as session:
            report = verify_chain(session, KEY)
            assert (report.ok, report.first_broken) == (False, first)
    finally:
        engine.dispose()
        drop_database(name)
