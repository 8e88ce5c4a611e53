"""Alembic revisions: up, down to nothing, and up again, on a real PostgreSQL database."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from app.models import Base
from app.ops.deploy import RollbackPlan, rollback_plan
from app.ops.migrations import alembic_config
from tests.support.services import drop_database, fresh_database, migrate


@pytest.fixture
def scratch_database() -> Iterator[str]:
    name = f"sfp_migrations_{os.getpid()}"
    yield fresh_database(name)
    drop_database(name)


def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(scratch_database: str) -> None:
    expected = set(Base.metadata.tables)

    migrate(scratch_database)
    assert table_names(scratch_database) == expected

    migrate(scratch_database, "base", down=True)
    assert table_names(scratch_database) == set()

    migrate(scratch_database)
    assert table_names(scratch_database) == expected


def test_schema_matches_the_models(database_url: str) -> None:
    """No drift: autogenerate finds nothing to add or drop against the migrated schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_audit_log_is_append_only(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO audit_log"
                    " (actor_type, table_name, operation, reason, compliance_category)"
                    " VALUES ('system', 'shell_files', 'read', 'test', 'test')"
                )
            )
        for statement in ("UPDATE audit_log SET reason = 'edited'", "DELETE FROM audit_log"):
            with (
                pytest.raises(Exception, match="append-only") as caught,
                engine.begin() as connection,
            ):
                connection.execute(text(statement))
            assert isinstance(caught.value.orig, psycopg.errors.RaiseException)
    finally:
        engine.dispose()


def test_every_revision_says_how_a_deploy_may_undo_it() -> None:
    """`flask deploy` rolls back only what declares itself reversible (app/ops/deploy.py)."""
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    for script in scripts.walk_revisions():
        module = script.module
        assert getattr(module, "kind", None) in {"expand", "contract"}, script.revision
        assert isinstance(getattr(module, "reversible", None), bool), script.revision


def test_a_rollback_plan_undoes_reversible_revisions_only() -> None:
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    # 0008 drops an index (reversible); 0009 adds columns the pipeline fills (not).
    assert rollback_plan(scripts, "0008", "0007") == RollbackPlan("0007", None, True)
    assert rollback_plan(scripts, "0009", "0007") == RollbackPlan(None, "0009", False)
    assert rollback_plan(scripts, "0009", "0008") == RollbackPlan(None, "0009", True)
    assert rollback_plan(scripts, "0009", "0009") == RollbackPlan("0009", None, True)


def test_a_downgrade_past_0014_writes_each_series_back_where_0013_reads_it(
    scratch_database: str,
) -> None:
    """Revision 0014 stops writing a test's series into `record_entries.detail` (they are
    merged from their mentions on read). Its downgrade is reversible only if the release
    before it, which reads `detail`, finds every series there again."""
    from sqlalchemy.orm import Session

    from app.outputs import ai_lane, record
    from app.pipeline.ai import types as ai
    from tests.support.factories import make_account, make_profile, make_shell_file

    migrate(scratch_database)
    engine = create_engine(scratch_database, connect_args={"options": "-c app.system=on"})
    try:
        with Session(engine) as session, session.begin():
            account, _ = make_account(session)
            profile = make_profile(session, account)
            for number, (value, unit, loinc) in enumerate(
                [(48.0, "mmol/mol", "59261-8"), (7.1, "%", "4548-4")]
            ):
                shell_file = make_shell_file(session, profile.id, None, status="completed")
                result = ai.LabResult(
                    "l1", ("e1",), "HbA1c", value, f"{value:g}", unit, loinc=loinc
                )
                entity = ai.Entity("e1", "lab_result", "x", 0, 1, 1, (0.1, 0.1, 0.2, 0.12), 0.9)
                ai_lane.save_entities(session, shell_file, [entity])
                ai_lane.save_records(
                    session,
                    shell_file,
                    ai.ClinicalRecords(document_date=f"202{number}-01-01", lab_results=(result,)),
                )
                record.refresh_document(session, shell_file)
            expected = record.observation(session, profile.id, "59261-8")
        assert expected is not None and len(expected["series"][0]["points"]) == 2

        migrate(scratch_database, "0013", down=True)
        with engine.connect() as connection:
            detail = connection.execute(
                text("SELECT detail FROM record_entries WHERE merge_key = '59261-8'")
            ).scalar_one()
            columns = {c["name"] for c in inspect(connection).get_columns("record_entries")}
        assert detail == expected and "state" not in columns
    finally:
        engine.dispose()
