"""No document content in logs or error rows: a marker planted in documents that succeed,
fail and are quarantined must appear nowhere but where the documents' own data lives."""

from __future__ import annotations

import io
import logging
import time
import uuid

import pytest
from flask import request
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


def test_a_view_error_echoing_request_input_is_logged_without_it(app, monkeypatch) -> None:
    """Flask logs an unhandled error in a view with its traceback; an exception that
    quotes what the request sent (document text) must reach no log in words."""

    def reads_the_note() -> str:
        raise ValueError(f"could not parse the note {request.args['note']!r}")

    monkeypatch.setitem(app.view_functions, "health.healthz", reads_the_note)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)  # log it, as in production
    root_output, wsgi_errors = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(root_output)
    logging.getLogger().addHandler(handler)
    try:
        response = app.test_client().get(
            "/healthz", query_string={"note": f"{MARKER} has type 2 diabetes"},
            errors_stream=wsgi_errors,
        )  # fmt: skip
    finally:
        logging.getLogger().removeHandler(handler)

    assert response.status_code == 500
    logged = root_output.getvalue() + wsgi_errors.getvalue()
    assert "Exception on /healthz [GET]" in logged  # the Flask app's logger wrote it
    assert "in reads_the_note" in logged  # with the traceback's frames
    assert "builtins.ValueError (details withheld" in logged
    assert MARKER not in logged


@pytest.mark.parametrize("name", ["sqlalchemy.engine", "werkzeug", "celery.worker", "some.library"])
def test_every_logger_withholds_a_library_errors_message(app, name: str) -> None:
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        try:
            raise KeyError(f"{MARKER} 1970-01-01")
        except KeyError as exc:
            logger.error("failed: %s", exc, exc_info=True)
            logger.error(exc)
    finally:
        logger.removeHandler(handler)
    logged = output.getvalue()
    assert "builtins.KeyError (details withheld" in logged
    assert "failed: builtins.KeyError" in logged
    assert MARKER not in logged
