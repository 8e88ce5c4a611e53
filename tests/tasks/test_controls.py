"""Reprocessing, archiving and deleting a document, on the session's real worker."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from app.models import AuditLog, BlobChunk, ClinicalEntity, Job, OcrPage, ShellFile
from app.storage import page_images_dir
from tests.support.api import upload
from tests.support.factories import bearer, grant, make_account, make_profile
from tests.support.pipeline import jobs_of, wait_for_status

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def world(app, samples):
    with app.extensions["db"].session() as session:
        owner, token = make_account(session)
        reader, reader_token = make_account(session)
        profile = make_profile(session, owner)
        grant(session, profile, reader, "read_only")
    response = upload(app.test_client(), token, profile.id, samples.read("clinical.pdf"))
    shell_file_id = uuid.UUID(response.json["shell_file_id"])
    assert wait_for_status(app, shell_file_id).status == "completed"
    return {"token": token, "reader": reader_token, "id": shell_file_id}


def post(app, token, path, json=None):
    return app.test_client().post(path, headers=bearer(token), json=json)


def test_reprocess_from_a_stage_reruns_only_that_stage_and_after(app, world) -> None:
    path = f"/api/v1/shell-files/{world['id']}"

    response = post(app, world["token"], f"{path}/reprocess", {"from_stage": "pass1"})

    assert response.status_code == 202, response.json
    assert response.json["run_number"] == 2
    shell_file = wait_for_status(app, world["id"])
    assert (shell_file.status, shell_file.run_number) == ("completed", 2)
    second_run = [job for job in jobs_of(app, world["id"]) if job.run_number == 2]
    assert [(job.job_type, job.status, job.attempts) for job in second_run] == [
        ("security_scan", "completed", 0),
        ("ocr", "completed", 0),
        ("spatial_mapping", "completed", 0),
        ("pass1", "completed", 1),
        ("pass2", "completed", 1),
        ("pass3", "completed", 1),
        ("record", "completed", 1),
    ]
    with app.extensions["db"].session() as session:
        entities = session.scalar(
            select(func.count()).where(ClinicalEntity.shell_file_id == world["id"])
        )
    assert entities > 0  # replaced by the new run, not added to

    again = post(app, world["token"], f"{path}/reprocess")
    assert again.status_code == 202
    assert wait_for_status(app, world["id"]).run_number == 3


def test_reprocess_is_refused_while_running_and_for_readers(app, world) -> None:
    path = f"/api/v1/shell-files/{world['id']}/reprocess"
    assert post(app, world["reader"], path).status_code == 404
    assert post(app, world["token"], path, {"from_stage": "nope"}).status_code == 409
    assert post(app, world["token"], path).status_code == 202
    assert post(app, world["token"], path).status_code == 409  # the new run is under way
    wait_for_status(app, world["id"])


def test_archive_then_hard_delete(app, world) -> None:
    client = app.test_client()
    path = f"/api/v1/shell-files/{world['id']}"
    assert client.delete(path, headers=bearer(world["reader"])).status_code == 404

    archived = client.delete(path, headers=bearer(world["token"]))
    assert archived.status_code == 200 and archived.json["status"] == "archived"
    assert client.get(path, headers=bearer(world["token"])).json["status"] == "archived"

    with app.extensions["db"].session() as session:
        key = session.get(ShellFile, world["id"]).storage_key
    assert client.delete(f"{path}?hard=true", headers=bearer(world["token"])).status_code == 204

    assert client.get(path, headers=bearer(world["token"])).status_code == 404
    with app.extensions["db"].session() as session:
        assert session.scalar(select(func.count()).where(BlobChunk.storage_key == key)) == 0
        assert session.scalar(select(func.count()).where(Job.shell_file_id == world["id"])) == 0
        deleted = session.scalars(
            select(AuditLog.operation).where(AuditLog.record_id == str(world["id"]))
        ).all()
    assert "delete" in deleted


def test_cancel_stops_a_run_and_nothing_after_it_runs(app, broker_client) -> None:
    import time

    from tests.support.pipeline import start_scripted_run

    run = start_scripted_run(app, broker_client, [("fast", "sleep 2"), ("ai", "ok")])
    deadline = time.monotonic() + 20
    while not broker_client.get(f"pid:{run.job_ids[0]}"):
        assert time.monotonic() < deadline, "the first stage never started"
        time.sleep(0.05)
    path = f"/api/v1/shell-files/{run.shell_file_id}/cancel"

    response = post(app, run.token, path)

    assert response.status_code == 200, response.json
    assert response.json["status"] == "cancelled" and response.json["cancelled_jobs"] == 2
    time.sleep(3)  # the running stage finishes its work meanwhile
    assert [job.status for job in jobs_of(app, run.shell_file_id)] == ["cancelled", "cancelled"]
    assert broker_client.llen(f"ran:{run.job_ids[1]}") == 0
    assert wait_for_status(app, run.shell_file_id).status == "cancelled"
    assert post(app, run.token, path).status_code == 409


def _first_page_text(app, shell_file_id: uuid.UUID) -> str:
    with app.extensions["db"].session() as session:
        return session.scalars(
            select(OcrPage.text).where(
                OcrPage.shell_file_id == shell_file_id, OcrPage.page_number == 1
            )
        ).one()


def _reprocess_and_wait(app, world, body: dict[str, str] | None, run_number: int) -> None:
    path = f"/api/v1/shell-files/{world['id']}/reprocess"
    assert post(app, world["token"], path, body).status_code == 202
    shell_file = wait_for_status(app, world["id"])
    assert (shell_file.status, shell_file.run_number) == ("completed", run_number)


def test_a_new_run_from_ocr_reads_every_page_again(app, world) -> None:
    """A reprocess (after an OCR fix, say) must not return the text an earlier run read;
    one from a later stage carries the pages over, as it carries over their stage."""
    read = _first_page_text(app, world["id"])
    with app.extensions["db"].session() as session:
        session.execute(
            update(OcrPage)
            .where(OcrPage.shell_file_id == world["id"], OcrPage.page_number == 1)
            .values(text="what an older reader made of page one")
        )

    _reprocess_and_wait(app, world, {"from_stage": "spatial_mapping"}, run_number=2)
    assert _first_page_text(app, world["id"]) == "what an older reader made of page one"

    _reprocess_and_wait(app, world, None, run_number=3)
    assert _first_page_text(app, world["id"]) == read


def _files_holding(root: Path, marker: bytes) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and marker in path.read_bytes()]


def test_a_hard_delete_leaves_the_documents_bytes_nowhere(app) -> None:
    """After a hard delete no file in the data folder (the workers' local copies, the page
    images) and no row holds the document's bytes or text (#15)."""
    marker = f"Marker {uuid.uuid4().hex} of a note to be forgotten".encode()
    with app.extensions["db"].session() as session:
        owner, token = make_account(session)
        profile = make_profile(session, owner)
    client = app.test_client()
    response = upload(client, token, profile.id, b"Clinic note.\n" + marker + b"\n", name="n.txt")
    shell_file_id = uuid.UUID(response.json["shell_file_id"])
    assert wait_for_status(app, shell_file_id).status == "completed"
    data_dir = Path(app.config["SETTINGS"].data_dir)
    assert _files_holding(data_dir, marker)  # the worker's local copy, at least
    assert list(page_images_dir(data_dir, shell_file_id).glob("1-*.png"))  # drawn by OCR

    path = f"/api/v1/shell-files/{shell_file_id}"
    assert client.delete(path, headers=bearer(token)).status_code == 200  # archived
    assert client.delete(f"{path}?hard=true", headers=bearer(token)).status_code == 204

    assert _files_holding(data_dir, marker) == []
    assert not page_images_dir(data_dir, shell_file_id).exists()
    with app.extensions["db"].session() as session:
        holding = session.execute(
            text(
                "SELECT (SELECT count(*) FROM blob_chunks WHERE position(:m IN data) > 0)"
                " + (SELECT count(*) FROM ocr_pages WHERE position(:t IN text) > 0)"
                " + (SELECT count(*) FROM shell_files WHERE position(:t IN extracted_text) > 0)"
            ),
            {"m": marker, "t": marker.decode()},
        ).scalar()
    assert holding == 0
