"""No document content in logs or error rows: a marker planted in documents that succeed,
fail and are quarantined must appear nowhere but where the documents' own data lives."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import select

from app.models import ProcessingError
from tests.support.api import upload
from tests.support.factories import make_account, make_profile
from tests.support.pipeline import wait_for_status
from tests.support.samples import text_pdf

pytestmark = pytest.mark.usefixtures("worker")

MARKER = "Zqxwvortle"  # a made-up surname, unique enough to search for


def test_a_marker_in_documents_reaches_no_log_and_no_error_row(app, worker) -> None:
    with app.extensions["db"].session() as session:
        account, token = make_account(session)
        profile = make_profile(session, account)
    documents = {
        "letter.pdf": text_pdf([f"Patient {MARKER}", "Metformin 500 mg twice daily"]),
        # Refused by the security scan (text posing as a PDF).
        "fake.pdf": f"Notes about {MARKER}, not a PDF\n".encode(),
        # Accepted as text, then read and processed.
        "note.txt": f"{MARKER} reports no chest pain\nBP 120/80 mmHg\n".encode(),
    }
    ids = []
    for name, data in documents.items():
        response = upload(app.test_client(), token, profile.id, data, name=f"{MARKER}-{name}")
        assert response.status_code == 201
        ids.append(uuid.UUID(response.json["shell_file_id"]))
    statuses = {wait_for_status(app, shell_file_id).status for shell_file_id in ids}
    assert statuses == {"completed", "quarantined"}

    with app.extensions["db"].session() as session:
        messages = session.scalars(select(ProcessingError.error_message)).all()
    assert messages and not [m for m in messages if MARKER in m]
    log = worker.log.read_text(errors="replace")
    assert "Task fast.scan_shell_file" in log  # the log is the worker's, and it is written
    assert MARKER not in log


def test_a_library_error_quoting_document_text_is_logged_without_it(
    app, worker, broker_client
) -> None:
    from tests.support.pipeline import errors_of, start_scripted_run

    run = start_scripted_run(app, broker_client, [("fast", f"foreign {MARKER} 1970-01-01")])
    assert wait_for_status(app, run.shell_file_id).status == "failed"

    (error,) = errors_of(app, run.shell_file_id)
    assert error.error_type == "internal_error" and MARKER not in error.error_message
    # The failure row is committed a moment before Celery writes its failure line.
    deadline = time.monotonic() + 15
    while f"{run.job_ids[0]}] raised unexpected" not in (
        log := worker.log.read_text(errors="replace")
    ):
        assert time.monotonic() < deadline, "the failure was never logged"
        time.sleep(0.1)
    assert "builtins.ValueError (details withheld" in log
    assert MARKER not in log
