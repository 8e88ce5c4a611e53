"""The pipeline keeps search current: a document the real worker processed is found by
its words; once archived or hard-deleted it is not; a reprocess leaves one copy."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask

from tests.support.api import upload
from tests.support.factories import bearer, make_account, make_profile
from tests.support.pipeline import wait_for_status

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def owner(app: Flask) -> tuple[str, uuid.UUID]:
    with app.extensions["db"].session() as session:
        account, token = make_account(session)
        profile = make_profile(session, account)
    return token, profile.id


def submit(app: Flask, owner: tuple[str, uuid.UUID], text: str, name: str) -> uuid.UUID:
    token, profile_id = owner
    response = upload(app.test_client(), token, profile_id, text.encode(), name=name)
    assert response.status_code == 201, response.json
    shell_file_id = uuid.UUID(response.json["shell_file_id"])
    assert wait_for_status(app, shell_file_id).status == "completed"
    return shell_file_id


def found(app: Flask, owner: tuple[str, uuid.UUID], q: str) -> list[tuple[str, int]]:
    token, profile_id = owner
    response = app.test_client().get(
        f"/api/v1/profiles/{profile_id}/search", query_string={"q": q}, headers=bearer(token)
    )
    assert response.status_code == 200, response.json
    return [(item["shell_file_id"], item["page_number"]) for item in response.json["items"]]


def test_processed_documents_are_found_until_archived_or_deleted(app: Flask, owner) -> None:
    token, _ = owner
    kept = submit(app, owner, "Medication list\nRamipril 5 mg once daily\n", "kept.txt")
    archived = submit(app, owner, "Clinic letter\nRamipril increased to 10 mg\n", "old.txt")
    deleted = submit(app, owner, "Discharge summary\nRamipril stopped\n", "gone.txt")
    assert sorted(found(app, owner, "ramipril")) == sorted(
        [(str(kept), 1), (str(archived), 1), (str(deleted), 1)]
    )

    client = app.test_client()
    assert client.delete(f"/api/v1/shell-files/{archived}", headers=bearer(token)).status_code in (
        200,
        204,
    )
    assert client.delete(
        f"/api/v1/shell-files/{deleted}?hard=true", headers=bearer(token)
    ).status_code in (200, 204)

    assert found(app, owner, "ramipril") == [(str(kept), 1)]


def test_a_reprocessed_document_is_found_once(app: Flask, owner) -> None:
    token, _ = owner
    doc = submit(app, owner, "Immunisations\nTetanus booster given\n", "jabs.txt")

    response = app.test_client().post(
        f"/api/v1/shell-files/{doc}/reprocess", headers=bearer(token), json={}
    )
    assert response.status_code == 202, response.json
    assert wait_for_status(app, doc).run_number == 2  # its pages were dropped and read again

    assert found(app, owner, "tetanus") == [(str(doc), 1)]
