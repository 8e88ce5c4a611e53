"""A document bigger than a document may be ends `failed` with one `too_large` row, at the
scan, before any page is read or any model asked; the worker goes on with the next."""

from __future__ import annotations

import io
import uuid

import pikepdf
import pytest
from sqlalchemy import func, select

from app.models import OcrPage
from tests.support.api import upload
from tests.support.factories import make_account, make_profile
from tests.support.pipeline import errors_of, wait_for_status

pytestmark = pytest.mark.usefixtures("worker")

MARKER = "ZORBLAX-NOTE"  # stands for patient text: never in an error row


def test_a_text_file_past_the_character_budget_fails_too_large_before_ocr(app, samples) -> None:
    limit = app.config["SETTINGS"].max_document_characters
    line = f"Patient note {MARKER}: blood pressure stable, continue current medicines.\n"
    note = (line * (limit // len(line) + 2)).encode()
    with app.extensions["db"].session() as session:
        account, token = make_account(session)
        profile = make_profile(session, account)
    client = app.test_client()

    big = upload(client, token, profile.id, note, name="note.txt")
    small = upload(client, token, profile.id, samples.read("note.txt"), name="small.txt")
    assert (big.status_code, small.status_code) == (201, 201)

    shell_file = wait_for_status(app, uuid.UUID(big.json["shell_file_id"]), timeout=120)
    assert shell_file.status == "failed"
    errors = errors_of(app, shell_file.id)
    assert [(e.error_type, e.is_final) for e in errors] == [("too_large", True)]
    assert "characters" in errors[0].error_message
    assert MARKER not in errors[0].error_message
    with app.extensions["db"].session() as session:
        pages = session.scalar(
            select(func.count()).select_from(OcrPage).where(OcrPage.shell_file_id == shell_file.id)
        )
    assert pages == 0
    after = wait_for_status(app, uuid.UUID(small.json["shell_file_id"]), timeout=120)
    assert after.status == "completed"


def big_pages_pdf(pages: int, side_pt: float) -> bytes:
    """Blank square pages: each within the per-page pixel limit, many of them."""
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page(page_size=(side_pt, side_pt))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def test_pages_that_render_past_the_pixel_budget_fail_too_large_at_the_scan(app) -> None:
    settings = app.config["SETTINGS"]
    # 840 pt at 300 dpi is 3,500 px a side: 12.25 MP a page, well within MAX_IMAGE_PIXELS,
    # but enough of them pass MAX_DOCUMENT_PIXELS (500 such pages are 6.1 billion).
    per_page = (840 / 72 * 300) ** 2
    pages = min(settings.max_pdf_pages, int(settings.max_document_pixels // per_page) + 1)
    assert per_page < settings.max_image_pixels and pages * per_page > settings.max_document_pixels
    with app.extensions["db"].session() as session:
        account, token = make_account(session)
        profile = make_profile(session, account)

    response = upload(app.test_client(), token, profile.id, big_pages_pdf(pages, 840))
    assert response.status_code == 201

    shell_file = wait_for_status(app, uuid.UUID(response.json["shell_file_id"]), timeout=120)
    assert shell_file.status == "failed"
    errors = errors_of(app, shell_file.id)
    assert [(e.error_type, e.stage) for e in errors] == [("too_large", "security_scan")]
    assert "pixels" in errors[0].error_message
