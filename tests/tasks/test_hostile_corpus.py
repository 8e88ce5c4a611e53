"""The hostile corpus (tests/support/hostile.py) through the API and the session's worker.

Every case ends as its entry says: refused at upload with a clear 4xx and nothing left
behind, or accepted and then quarantined (or failed) with a final error row naming why.
None gets a 5xx, none crashes the worker, and a clean document uploaded alongside
them is read to the end.
"""

from __future__ import annotations

import time
import unicodedata
import uuid
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.documents.upload import clean_filename
from app.models import AuditLog, BlobChunk, Job, SecurityScan, ShellFile
from tests.support.factories import bearer, make_account, make_profile
from tests.support.hostile import (
    HOSTILE_CASES,
    HostileCase,
    HostileCorpus,
    Refused,
    Stopped,
    as_received,
    letter,
    multipart_body,
)
from tests.support.pipeline import errors_of, jobs_of, wait_for_status

pytestmark = pytest.mark.usefixtures("worker")

REFUSED = [case for case in HOSTILE_CASES if isinstance(case.outcome, Refused)]
ACCEPTED = [case for case in HOSTILE_CASES if isinstance(case.outcome, Stopped)]
# Lines Celery writes when a pool process dies under a task.
CRASH_MARKERS = ("WorkerLostError", "exited with 'signal", "exited with 'exitcode", "MemoryError")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> HostileCorpus:
    return HostileCorpus(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def owner(app: Flask) -> tuple[str, uuid.UUID]:
    with app.extensions["db"].session() as session:
        account, token = make_account(session)
        profile = make_profile(session, account)
    return token, profile.id


def post_raw(app: Flask, token: str, patient_id: uuid.UUID, filename: str | bytes, data: bytes):
    body, content_type = multipart_body({"patient_id": str(patient_id)}, filename, data)
    return app.test_client().post(
        "/api/v1/shell-files", data=body, content_type=content_type, headers=bearer(token)
    )


def left_behind(app: Flask, patient_id: uuid.UUID) -> tuple[int, int, int, int]:
    """Rows of the profile's documents, and blob chunks that belong to no document."""
    with app.extensions["db"].session() as session:
        known = select(ShellFile.storage_key).union(
            select(SecurityScan.repaired_storage_key).where(
                SecurityScan.repaired_storage_key.is_not(None)
            )
        )
        return (
            session.scalar(select(func.count()).where(ShellFile.patient_id == patient_id)) or 0,
            session.scalar(select(func.count()).where(Job.patient_id == patient_id)) or 0,
            session.scalar(select(func.count()).where(AuditLog.patient_id == patient_id)) or 0,
            session.scalar(
                select(func.count(func.distinct(BlobChunk.storage_key))).where(
                    BlobChunk.storage_key.not_in(known)
                )
            )
            or 0,
        )


def test_the_corpus_is_large_and_named_once() -> None:
    names = [case.name for case in HOSTILE_CASES]
    assert len(names) >= 40
    assert len(set(names)) == len(names)
    assert REFUSED and ACCEPTED


@pytest.mark.parametrize("case", REFUSED, ids=str)
def test_refused_at_upload_and_nothing_is_left(app, owner, hostile, case: HostileCase) -> None:
    token, patient_id = owner
    before = left_behind(app, patient_id)

    response = post_raw(app, token, patient_id, case.filename, hostile.read(case.name))

    assert isinstance(case.outcome, Refused)
    assert (response.status_code, response.json["error"]["code"]) == (
        case.outcome.status,
        case.outcome.code,
    )
    assert case.outcome.message in response.json["error"]["message"]
    assert left_behind(app, patient_id) == before


@pytest.mark.parametrize(
    ("where", "extra_header", "patient_pad"),
    [
        ("part_header", b"X-Padding: " + b"a" * (1024 * 1024) + b"\r\n", ""),
        ("form_field", b"", " " * (1024 * 1024)),
    ],
)
def test_oversized_multipart_headers_are_413(
    app, owner, where: str, extra_header: bytes, patient_pad: str
) -> None:
    """A part header or a form field larger than the form's memory limit is refused
    before the upload is looked at."""
    token, patient_id = owner
    before = left_behind(app, patient_id)
    body, content_type = multipart_body(
        {"patient_id": str(patient_id) + patient_pad},
        "letter.pdf",
        letter(),
        extra_header=extra_header,
    )

    response = app.test_client().post(
        "/api/v1/shell-files", data=body, content_type=content_type, headers=bearer(token)
    )

    assert response.status_code == 413, where
    assert response.json["error"]["code"] == "request_entity_too_large"
    assert left_behind(app, patient_id) == before


def _crash_lines(log: Path, offset: int) -> list[str]:
    with log.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
    return [line for line in text.splitlines() if any(m in line for m in CRASH_MARKERS)]


def test_accepted_hostile_files_are_stopped_and_a_clean_one_still_flows(
    app, owner, hostile, worker
) -> None:
    token, patient_id = owner
    worker_pid, log_offset = worker.process.pid, worker.log.stat().st_size
    submitted: dict[uuid.UUID, HostileCase] = {}
    for case in ACCEPTED:
        response = post_raw(app, token, patient_id, case.filename, hostile.read(case.name))
        assert response.status_code == 201, (case.name, response.json)
        submitted[uuid.UUID(response.json["shell_file_id"])] = case
    clean = post_raw(app, token, patient_id, "letter.pdf", letter())
    assert clean.status_code == 201, clean.json
    clean_id = uuid.UUID(clean.json["shell_file_id"])

    # A bound for about a hundred documents on one busy 2-core worker, not a wait: each
    # document is awaited only until it stops.
    deadline = time.monotonic() + 300
    for shell_file_id, case in submitted.items():
        shell_file = wait_for_status(
            app, shell_file_id, timeout=max(5, deadline - time.monotonic())
        )
        assert_stopped(app, shell_file, case)
    finished = wait_for_status(app, clean_id, timeout=max(30, deadline - time.monotonic()))

    assert finished.status == "completed", errors_of(app, clean_id)
    assert "Metformin" in (finished.extracted_text or "")
    assert errors_of(app, clean_id) == []
    assert worker.process.poll() is None and worker.process.pid == worker_pid
    assert _crash_lines(worker.log, log_offset) == []


def assert_stopped(app: Flask, shell_file: ShellFile, case: HostileCase) -> None:
    outcome = case.outcome
    assert isinstance(outcome, Stopped)
    errors = errors_of(app, shell_file.id)
    final = [error for error in errors if error.is_final]
    assert shell_file.status == outcome.status, (case.name, [e.error_type for e in errors])
    assert [(e.stage, e.error_type) for e in final] == [("security_scan", outcome.error_type)], (
        case.name
    )
    later = [job.status for job in jobs_of(app, shell_file.id)][1:]
    assert set(later) == {"cancelled"}, case.name  # nothing reads a quarantined file
    # The name is data: cleaned of control characters, bounded, never a path to a file.
    name = shell_file.original_filename
    if isinstance(case.filename, str):
        assert name == clean_filename(as_received(case.filename)), case.name
    assert 0 < len(name) <= 255
    assert all(unicodedata.category(ch)[0] != "C" for ch in name), case.name
    assert shell_file.storage_key == f"db:{shell_file.id}"
    for error in errors:  # error rows name no part of the upload
        assert name not in (error.error_message or ""), case.name
