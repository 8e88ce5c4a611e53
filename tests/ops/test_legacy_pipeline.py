"""`flask legacy import|verify` in the session database, with its real worker and beat:
the imported documents are published by the outbox relay and processed to the end."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import Engine, text

from app.models import LegacyDocumentImport, ShellFile
from tests.ops.legacy_table import add_document, create_legacy_table
from tests.support.factories import make_account
from tests.support.pipeline import jobs_of, wait_for_status
from tests.support.samples import Samples

pytestmark = pytest.mark.pipeline


@pytest.fixture
def legacy_table_name(owner_engine: Engine) -> Iterator[str]:
    """A legacy table of this test's own; dropped after, so the session schema stays the
    models' (tests/test_migrations.py compares them). The old system's table is created by
    the owner, as it would be; the service's role may read it (revision 0012's default
    privileges) but not create tables."""
    name = f"legacy_{uuid.uuid4().hex[:10]}"
    yield name
    with owner_engine.begin() as connection:
        connection.execute(text(f'DROP TABLE IF EXISTS "{name}"'))


def invoke(app: Flask, *args: str) -> tuple[Result, dict[str, Any]]:
    result = app.test_cli_runner().invoke(args=["legacy", *args])
    try:
        payload = json.loads(result.stdout)
    except json.JSONDecodeError:
        payload = {}
    return result, payload


@pytest.mark.usefixtures("worker")
def test_imported_documents_are_relayed_and_processed(
    app: Flask, legacy_table_name: str, samples: Samples, owner_engine: Engine
) -> None:
    # Given an account without profiles and three legacy documents of it.
    db = app.extensions["db"]
    with db.session() as session:
        account, _ = make_account(session)
    base = uuid.uuid4().int % 10**12  # ids of this test's own in the shared mapping table
    documents = {
        base + 1: ("letter.pdf", samples.read("clinical.pdf")),
        base + 2: ("labs.pdf", samples.read("other.pdf")),
        base + 3: ("meds.txt", samples.read("note.txt")),
    }
    with owner_engine.begin() as connection:
        create_legacy_table(connection, f'"{legacy_table_name}"')
        for legacy_id, (name, content) in documents.items():
            add_document(
                connection, f'"{legacy_table_name}"', legacy_id, account.id, content, filename=name
            )

    # When they are imported.
    result, payload = invoke(app, "import", "--table", legacy_table_name)

    # Then the command reports three new documents in a new self profile, all verified.
    assert result.exit_code == 0, result.output
    assert payload["import"]["imported"] == 3
    assert payload["import"]["profiles_created"] == 1
    assert payload["verify"]["ok"] is True
    assert payload["verify"]["mapped"] == 3
    with db.session() as session:
        mapped = {
            row.legacy_id: row.shell_file_id
            for row in session.query(LegacyDocumentImport).filter(
                LegacyDocumentImport.legacy_id.in_(documents)
            )
        }
    # Nothing was published inline; beat's relay publishes them, and the worker completes them.
    for legacy_id, shell_file_id in mapped.items():
        assert shell_file_id is not None
        shell_file = wait_for_status(app, shell_file_id, timeout=120)
        assert shell_file.status == "completed", legacy_id
        run = jobs_of(app, shell_file_id)
        assert {(job.status, job.priority, job.job_category) for job in run} == {
            ("completed", 10, "background")
        }
        assert run[0].published_at is not None and run[0].broker_epoch is not None
        assert shell_file.original_filename == documents[legacy_id][0]
    with db.session() as session:
        letter = session.get(ShellFile, mapped[base + 1])
        assert letter is not None and "metformin" in (letter.ai_synthesized_summary or "").lower()

    # And a second import changes nothing.
    result, payload = invoke(app, "import", "--table", legacy_table_name)
    assert result.exit_code == 0, result.output
    assert payload["import"]["scanned"] == 0 and payload["import"]["imported"] == 0


def test_a_gap_is_a_nonzero_exit_with_its_report(
    app: Flask, legacy_table_name: str, owner_engine: Engine
) -> None:
    legacy_id = uuid.uuid4().int % 10**12
    with owner_engine.begin() as connection:
        create_legacy_table(connection, f'"{legacy_table_name}"')
        add_document(connection, f'"{legacy_table_name}"', legacy_id, uuid.uuid4(), b"orphan\n")

    result, payload = invoke(app, "import", "--table", legacy_table_name)

    assert result.exit_code == 1
    assert payload["import"]["refused"] == {
        "unknown_account": {"count": 1, "legacy_ids": [legacy_id]}
    }
    assert payload["verify"]["ok"] is False
    assert payload["verify"]["missing_ids"] == [legacy_id]
    result, payload = invoke(app, "verify", "--table", legacy_table_name)
    assert result.exit_code == 1
    assert payload["verify"]["missing"] == 1


def test_a_missing_table_is_a_clear_error(app: Flask) -> None:
    result, _ = invoke(app, "verify", "--table", "no_such_legacy_table")
    assert result.exit_code == 1
    assert "no_such_legacy_table" in result.output
    assert "missing or lacks the columns" in result.output
