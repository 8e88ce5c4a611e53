"""The fast lane on the session's real worker: hostile files quarantined, scans read,
long documents read in parallel batches, pages served by the API."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from app.models import BlobChunk, SecurityScan
from app.pipeline import STAGE_NAMES
from tests.support.api import upload
from tests.support.documents import Corpus, page_lines
from tests.support.factories import bearer, make_account, make_profile
from tests.support.pipeline import errors_of, jobs_of, wait_for_status
from tests.support.text import cer

pytestmark = pytest.mark.usefixtures("worker")

FAST_LANE_DONE = {"security_scan": "completed", "ocr": "completed", "spatial_mapping": "completed"}


@pytest.fixture
def owner(app):
    with app.extensions["db"].session() as session:
        account, token = make_account(session)
        profile = make_profile(session, account)
    return token, profile.id


def submit(app, owner, corpus: Corpus, name: str) -> uuid.UUID:
    token, profile_id = owner
    response = upload(app.test_client(), token, profile_id, corpus.read(name), name=name)
    assert response.status_code == 201, response.json
    return uuid.UUID(response.json["shell_file_id"])


HOSTILE = [
    ("eicar.txt", "malware_detected"),
    ("encrypted.pdf", "encrypted_pdf"),
    ("javascript.pdf", "executable_content"),
    ("embedded_file.pdf", "executable_content"),
    ("zero_pages.pdf", "malformed_file"),
    ("truncated.pdf", "malformed_file"),
    ("bomb.png", "decompression_bomb"),
    ("truncated.png", "malformed_file"),
    ("polyglot.pdf", "polyglot_file"),
    ("text_renamed.pdf", "type_mismatch"),
]


def test_hostile_files_are_quarantined_and_good_ones_still_flow(app, owner, corpus) -> None:
    hostile = {submit(app, owner, corpus, name): error_type for name, error_type in HOSTILE}
    good = submit(app, owner, corpus, "born_digital.pdf")

    for shell_file_id, error_type in hostile.items():
        shell_file = wait_for_status(app, shell_file_id)
        assert shell_file.status == "quarantined", error_type
        (error,) = errors_of(app, shell_file_id)
        assert (error.stage, error.error_type, error.is_final) == (
            "security_scan",
            error_type,
            True,
        )
        later = [job.status for job in jobs_of(app, shell_file_id)][1:]
        # No later stage reads a quarantined file.
        assert later == ["cancelled"] * (len(STAGE_NAMES) - 1)
    wait_for_status(app, good)
    statuses = {job.job_type: job.status for job in jobs_of(app, good)}
    assert statuses.items() >= FAST_LANE_DONE.items()


def test_a_damaged_pdf_is_repaired_and_read(app, owner, corpus) -> None:
    shell_file_id = submit(app, owner, corpus, "broken_xref.pdf")
    wait_for_status(app, shell_file_id)
    statuses = {job.job_type: job.status for job in jobs_of(app, shell_file_id)}
    assert statuses.items() >= FAST_LANE_DONE.items()
    token, _ = owner
    pages = (
        app.test_client()
        .get(f"/api/v1/shell-files/{shell_file_id}/pages", headers=bearer(token))
        .json["items"]
    )
    assert [p["page_number"] for p in pages] == [1, 2]


def test_a_reprocess_leaves_one_repaired_copy(app, owner, corpus) -> None:
    """Each run's scan stores its own repaired copy; the earlier run's goes (#15), or every
    reprocess would leave a copy of the document's bytes that nothing names."""
    token, _ = owner
    shell_file_id = submit(app, owner, corpus, "broken_xref.pdf")
    wait_for_status(app, shell_file_id)
    first = _repaired_key(app, shell_file_id)
    path = f"/api/v1/shell-files/{shell_file_id}/reprocess"
    assert app.test_client().post(path, headers=bearer(token)).status_code == 202
    assert wait_for_status(app, shell_file_id).run_number == 2

    second = _repaired_key(app, shell_file_id)
    assert second != first
    with app.extensions["db"].session() as session:
        stored = session.scalars(
            select(BlobChunk.storage_key).where(BlobChunk.storage_key.in_([first, second]))
        ).all()
    assert set(stored) == {second}


def _repaired_key(app, shell_file_id: uuid.UUID) -> str:
    with app.extensions["db"].session() as session:
        scan = session.get(SecurityScan, shell_file_id)
        assert scan is not None and scan.repaired_storage_key
        return scan.repaired_storage_key


def test_a_scanned_pdf_is_read_into_pages_with_boxes(app, owner, corpus) -> None:
    token, _ = owner
    shell_file_id = submit(app, owner, corpus, "scan_300dpi.pdf")

    shell_file = wait_for_status(app, shell_file_id)

    statuses = {job.job_type: job.status for job in jobs_of(app, shell_file_id)}
    assert statuses.items() >= FAST_LANE_DONE.items()
    assert shell_file.page_count == 2 and shell_file.ocr_average_confidence > 80
    assert cer(shell_file.extracted_text, " ".join(page_lines(1) + page_lines(2))) <= 0.01
    client = app.test_client()
    listing = client.get(f"/api/v1/shell-files/{shell_file_id}/pages", headers=bearer(token))
    assert listing.status_code == 200
    assert [(p["page_number"], p["engine"], p["is_empty"]) for p in listing.json["items"]] == [
        (1, "tesseract", False),
        (2, "tesseract", False),
    ]
    page = client.get(f"/api/v1/shell-files/{shell_file_id}/pages/2", headers=bearer(token)).json
    assert cer(" ".join(line["text"] for line in page["lines"]), " ".join(page_lines(2))) <= 0.01
    for line in page["lines"]:
        assert all(0 <= v <= 1 for v in line["box"])
    assert len(page["words"]) == sum(len(line["words"]) for line in page["lines"])
    missing = client.get(f"/api/v1/shell-files/{shell_file_id}/pages/3", headers=bearer(token))
    assert missing.status_code == 404


@pytest.mark.slow
def test_a_long_scan_is_read_in_parallel_batches_and_joined(app, owner, corpus) -> None:
    shell_file_id = submit(app, owner, corpus, "long_scan.pdf")

    shell_file = wait_for_status(app, shell_file_id, timeout=120)

    statuses = {job.job_type: job.status for job in jobs_of(app, shell_file_id)}
    assert statuses.items() >= FAST_LANE_DONE.items()
    ocr_job = next(job for job in jobs_of(app, shell_file_id) if job.job_type == "ocr")
    assert ocr_job.attempts == 1
    assert shell_file.page_count == 10
    truth = " ".join(" ".join(page_lines(n)) for n in range(1, 11))
    assert cer(shell_file.extracted_text, truth) <= 0.01
    assert shell_file.status == "completed"  # the chain went on after the join
    assert [job.attempts for job in jobs_of(app, shell_file_id)] == [1] * len(STAGE_NAMES)
