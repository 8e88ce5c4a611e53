"""A document's bytes, and its page images, are served only once the security scan
passed (#14, item 1): a quarantined file answers 409 with its reason, on the API and in
the web app, even after it is archived; a clean one is served. Page images are drawn by
the fast lane's worker and only served by the web process (#14, item 4)."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select

from app.access.passwords import hash_password
from app.models import OcrPage, SecurityScan, ShellFile
from app.pipeline.imaging import TEXT_CELL_PX
from app.pipeline.ocr import PAGE_LINES, WRAP_COLUMNS
from app.storage import page_image_path
from tests.support.api import upload
from tests.support.documents import Corpus
from tests.support.factories import bearer, make_account, make_profile
from tests.support.pipeline import wait_for_status
from tests.web.conftest import PASSWORD, new_client, sign_in

pytestmark = pytest.mark.usefixtures("worker")


@dataclass
class Owner:
    token: str
    profile_id: uuid.UUID
    web: FlaskClient  # signed in to the web app


@pytest.fixture
def owner(app: Flask) -> Owner:
    with app.extensions["db"].session() as session:
        account, token = make_account(session)
        account.password_hash = hash_password(PASSWORD)
        profile = make_profile(session, account)
        session.commit()
        email = account.email
    web = new_client(app)
    assert sign_in(web, email).status_code == 302
    return Owner(token, profile.id, web)


def submit(app: Flask, owner: Owner, data: bytes, name: str) -> uuid.UUID:
    response = upload(app.test_client(), owner.token, owner.profile_id, data, name=name)
    assert response.status_code == 201, response.json
    return uuid.UUID(response.json["shell_file_id"])


def drawn(app: Flask, shell_file_id: uuid.UUID, number: int) -> Path:
    """Where the worker's OCR keeps its image of the page (of the file OCR read)."""
    with app.extensions["db"].session() as session:
        shell_file = session.get(ShellFile, shell_file_id)
        scan = session.get(SecurityScan, shell_file_id)
        assert shell_file is not None and scan is not None
        rotation = session.scalar(
            select(OcrPage.rotation).where(
                OcrPage.shell_file_id == shell_file_id, OcrPage.page_number == number
            )
        )
        key = scan.repaired_storage_key or shell_file.storage_key
    assert rotation is not None
    return page_image_path(app.config["SETTINGS"].data_dir, shell_file_id, number, key, rotation)


def test_a_quarantined_file_is_withheld_and_a_clean_one_served(
    app: Flask, owner: Owner, corpus: Corpus
) -> None:
    # Given a PDF carrying JavaScript and a clean one, both through the security scan
    hostile_bytes, clean_bytes = corpus.read("javascript.pdf"), corpus.read("born_digital.pdf")
    hostile = submit(app, owner, hostile_bytes, "javascript.pdf")
    clean = submit(app, owner, clean_bytes, "born_digital.pdf")
    assert wait_for_status(app, hostile).status == "quarantined"
    assert wait_for_status(app, clean).status == "completed"
    api = app.test_client()

    def assert_withheld(code: str) -> None:
        answer = api.get(f"/api/v1/shell-files/{hostile}/content", headers=bearer(owner.token))
        assert answer.status_code == 409
        assert answer.json["error"]["code"] == code
        assert answer.json["error"]["reason"] == "executable_content"
        assert hostile_bytes not in answer.data
        image = owner.web.get(f"/documents/{hostile}/pages/1.png")
        assert image.status_code == 409 and b"scripts, actions or attached files" in image.data

    # When its bytes or a page image are asked for, then 409 with its reason
    assert_withheld("quarantined")
    # and so once its owner has archived it (the scan's refusal still stands)
    archive = api.delete(f"/api/v1/shell-files/{hostile}", headers=bearer(owner.token))
    assert archive.status_code == 200
    assert_withheld("not_scanned")

    # And the clean one is served
    answer = api.get(f"/api/v1/shell-files/{clean}/content", headers=bearer(owner.token))
    assert answer.status_code == 200 and answer.data == clean_bytes
    image = owner.web.get(f"/documents/{clean}/pages/1.png")
    assert image.status_code == 200 and image.data == drawn(app, clean, 1).read_bytes()
    hard = api.delete(f"/api/v1/shell-files/{hostile}?hard=true", headers=bearer(owner.token))
    assert hard.status_code == 204


def test_a_text_file_with_a_very_long_line_is_drawn_as_readable_pages(
    app: Flask, owner: Owner
) -> None:
    # Given a text file whose second line is 20,000 characters long
    long_line = " ".join(f"Metformin{n:05d}" for n in range(1_334))[:20_000]
    note = f"Clinic note\n{long_line}\nEnd of note\n".encode()
    shell_file_id = submit(app, owner, note, "note.txt")

    # When the fast lane has read it
    shell_file = wait_for_status(app, shell_file_id)
    assert shell_file.status == "completed"

    # Then it is several pages, each drawn by the worker at full size and bounded
    assert shell_file.page_count > 1
    cell_w, cell_h = TEXT_CELL_PX
    for number in range(1, shell_file.page_count + 1):
        answer = owner.web.get(f"/documents/{shell_file_id}/pages/{number}.png")
        assert answer.status_code == 200, number
        assert answer.data == drawn(app, shell_file_id, number).read_bytes()
        image = Image.open(io.BytesIO(answer.data))
        assert image.width <= WRAP_COLUMNS * cell_w and image.height <= PAGE_LINES * cell_h
    first = Image.open(io.BytesIO(owner.web.get(f"/documents/{shell_file_id}/pages/1.png").data))
    assert first.width >= 80 * cell_w  # wrapped near the full width, not shrunk to a strip

    # and with a page's image gone the web answers 409 rather than drawing it
    drawn(app, shell_file_id, 1).unlink()
    assert owner.web.get(f"/documents/{shell_file_id}/pages/1.png").status_code == 409
    assert not drawn(app, shell_file_id, 1).exists()
