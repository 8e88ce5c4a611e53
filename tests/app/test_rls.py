"""Row-level security, the second wall: a query that forgets the access check returns
nothing of a profile the caller does not reach, and the database's rule is the app's.

The checks are bypassed on purpose here: a raw `select` in a request's session, as a view
with a missing `accessible_profile` would run it. The connection acts as the service's
role (`db_session`), so the policies apply as they do in production.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.access.grants import reaches
from app.config import Settings
from app.db import act_as, request_session
from app.models import AUDIT_TABLES, Base, BlobChunk, Job, ProcessingError, ShellFile
from tests.support.factories import grant, make_account, make_profile, make_shell_file

CASES = ("owner", "read_only", "read_write", "full_access", "revoked", "expired", "stranger")


@pytest.fixture
def world(db_session: Session) -> dict[str, object]:
    """A profile with a document (a job, an error, its bytes), and one caller per case."""
    owner, _ = make_account(db_session)
    profile = make_profile(db_session, owner)
    document = make_shell_file(db_session, profile.id, owner.id, storage_key=f"db:{uuid.uuid4()}")
    job = Job(
        id=uuid.uuid4(),
        job_type="security_scan",
        job_lane="fast",
        job_name="fast.scan_shell_file",
        shell_file_id=document.id,
        patient_id=profile.id,
    )
    db_session.add(job)
    db_session.flush()
    db_session.add(
        ProcessingError(
            shell_file_id=document.id,
            job_id=job.id,
            stage="ocr",
            error_type="ocr_failure",
            error_message="OcrFailure",
        )
    )
    db_session.add(BlobChunk(storage_key=document.storage_key, seq=0, data=b"bytes"))
    callers = {"owner": owner.id}
    now = datetime.now(UTC)
    for case in CASES[1:]:
        account, _ = make_account(db_session)
        callers[case] = account.id
        if case in ("read_only", "read_write", "full_access"):
            grant(db_session, profile, account, case)
        elif case == "revoked":
            grant(db_session, profile, account, "full_access", revoked_at=now - timedelta(1))
        elif case == "expired":
            grant(db_session, profile, account, "full_access", expires_at=now - timedelta(1))
    db_session.flush()
    return {"profile": profile.id, "document": document, "callers": callers}


@pytest.fixture
def in_request(app: Flask, db_session: Session) -> Iterator[None]:
    with app.test_request_context("/api/v1/profiles"):
        yield


def visible(model: type[Base], key: object, column: str = "shell_file_id") -> int:
    session = request_session()
    return int(
        session.scalar(select(func.count()).select_from(model).where(getattr(model, column) == key))
        or 0
    )


@pytest.mark.parametrize("case", CASES)
def test_a_query_without_the_access_check_returns_only_what_the_rule_allows(
    in_request, world, case: str
) -> None:
    document = world["document"]
    act_as(request_session(), world["callers"][case])

    rows = request_session().scalars(select(ShellFile).where(ShellFile.id == document.id)).all()
    seen = {
        "shell_files": len(rows),
        "job_queue": visible(Job, document.id),
        "processing_errors": visible(ProcessingError, document.id),
        "blob_chunks": visible(BlobChunk, document.storage_key, "storage_key"),
    }

    expected = 0 if case in ("revoked", "expired", "stranger") else 1
    assert seen == dict.fromkeys(seen, expected)


def test_a_request_that_named_no_account_sees_no_patient_rows(in_request, world) -> None:
    assert request_session().scalars(select(ShellFile)).all() == []


def test_a_stranger_cannot_write_into_another_profile(in_request, world) -> None:
    act_as(request_session(), world["callers"]["stranger"])
    session = request_session()
    updated = session.execute(
        text("UPDATE shell_files SET status = 'archived' WHERE id = :id"),
        {"id": world["document"].id},
    )
    assert updated.rowcount == 0
    with pytest.raises(Exception, match="row-level security"):
        make_shell_file(session, world["profile"], world["callers"]["stranger"])


def test_the_system_sees_every_row(db_session: Session, world) -> None:
    """Workers, beat and commands act as the system (the test's own session does too)."""
    assert db_session.get(ShellFile, world["document"].id) is not None


@pytest.mark.parametrize("case", CASES)
def test_the_policy_and_the_access_rule_agree(db_session: Session, world, case: str) -> None:
    """The policies (in the database, as revision 0012 wrote them) and `reaches` (the app's
    rule) answer alike for every kind of caller of the access matrix."""
    account, profile = world["callers"][case], world["profile"]
    by_rule = db_session.execute(
        select(func.count())
        .select_from(Base.metadata.tables["user_profiles"])
        .where(reaches("read_only")),
        {"p_account_id": account, "p_profile_id": profile, "p_now": datetime.now(UTC)},
    ).scalar()
    db_session.execute(
        text(
            "SELECT set_config('app.system', 'off', true), set_config('app.account_id', :a, true)"
        ),
        {"a": str(account)},
    )
    by_policy = db_session.execute(
        text("SELECT count(*) FROM shell_files WHERE patient_id = :p"), {"p": profile}
    ).scalar()
    db_session.execute(text("SELECT set_config('app.system', 'on', true)"))
    assert by_policy == by_rule


def test_the_policies_hold_the_rule_as_rendered_now(db_session: Session) -> None:
    """The migration wrote the rule into the policies; a change of the rule needs a
    revision that writes them again."""
    qual = db_session.scalar(
        text("SELECT qual FROM pg_policies WHERE policyname = 'shell_files_reach'")
    )
    assert qual is not None and "profile_permissions" in qual and "expires_at" in qual
    for level in ("read_only", "read_write", "full_access", "owner"):
        assert f"'{level}'" in qual


def test_every_table_of_patient_data_has_forced_row_level_security(db_session: Session) -> None:
    patient_tables = {
        table.name
        for table in Base.metadata.sorted_tables
        if {"patient_id", "shell_file_id", "storage_key"} & set(table.columns.keys())
        and table.name not in AUDIT_TABLES
    }
    rows = db_session.execute(
        text(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relrowsecurity"
            " AND relforcerowsecurity"
        )
    ).scalars()
    assert patient_tables - set(rows) == set()
    assert "shell_files" in patient_tables and "blob_chunks" in patient_tables


def test_migrations_run_as_the_owner_the_service_as_its_role() -> None:
    one = Settings.from_env({"DATABASE_URL": "postgresql://owner@db/x"})
    assert one.migrations_database_url == one.database_url  # FORCEd policies hold it too
    two = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://sfp_app@db/x",
            "MIGRATIONS_DATABASE_URL": "postgres://o@db/x",
        }
    )
    assert two.database_url == "postgresql+psycopg://sfp_app@db/x"
    assert two.migrations_database_url == "postgresql+psycopg://o@db/x"
    assert one.with_overrides({"database_url": "sqlite:///a.db"}).migrations_database_url == (
        "sqlite:///a.db"
    )
