"""A document's pages as the fast lane left them: text, lines, blocks and word boxes."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from app.api import schemas
from app.api.blueprint import api
from app.api.openapi import COMMON_ERRORS, Reply, documented
from app.api.shell_files import readable_shell_file
from app.audit import audit_read
from app.db import request_session
from app.models import OcrPage, PageLayoutRow

MAX_PAGE_NUMBER = 2**31 - 1  # ocr_pages.page_number is a 32-bit integer


def _page_summary(ocr: OcrPage, layout: PageLayoutRow | None) -> dict[str, Any]:
    return {
        "page_number": ocr.page_number,
        "width": ocr.width,
        "height": ocr.height,
        "unit": ocr.unit,
        "engine": ocr.engine,
        "rotation": ocr.rotation,
        "mean_confidence": ocr.mean_confidence,
        "word_count": ocr.word_count,
        "is_empty": ocr.is_empty,
        "columns": layout.columns if layout else None,
        "text": layout.text if layout else ocr.text,
    }


@api.get("/shell-files/<shell_file_id>/pages")
@documented(
    "Every page's text and reading summary (audited)",
    Reply(200, "The pages, in order", schemas.Pages),
    *COMMON_ERRORS,
)
def list_pages(shell_file_id: str) -> Any:
    shell_file = readable_shell_file(shell_file_id)
    session = request_session()
    ocr_pages = session.scalars(
        select(OcrPage).where(OcrPage.shell_file_id == shell_file.id).order_by(OcrPage.page_number)
    ).all()
    layouts = {
        row.page_number: row
        for row in session.scalars(
            select(PageLayoutRow).where(PageLayoutRow.shell_file_id == shell_file.id)
        )
    }
    items = [_page_summary(page, layouts.get(page.page_number)) for page in ocr_pages]
    audit_read(
        session,
        table_name="ocr_pages",
        record_id=shell_file.id,
        patient_id=shell_file.patient_id,
        reason="view document pages",
    )
    return jsonify(shell_file_id=str(shell_file.id), page_count=shell_file.page_count, items=items)


@api.get("/shell-files/<shell_file_id>/pages/<int:page_number>")
@documented(
    "One page: text, lines and blocks in reading order, word boxes",
    Reply(200, "The page", schemas.Page),
    *COMMON_ERRORS,
    path=schemas.PagePath,
)
def get_page(shell_file_id: str, page_number: int) -> Any:
    shell_file = readable_shell_file(shell_file_id)
    if page_number > MAX_PAGE_NUMBER:  # past the column's range: no such page, not a 500
        raise NotFound("no such page")
    session = request_session()
    ocr = session.scalar(
        select(OcrPage).where(
            OcrPage.shell_file_id == shell_file.id, OcrPage.page_number == page_number
        )
    )
    if ocr is None:
        raise NotFound("no such page")
    layout = session.scalar(
        select(PageLayoutRow).where(
            PageLayoutRow.shell_file_id == shell_file.id, PageLayoutRow.page_number == page_number
        )
    )
    body = _page_summary(ocr, layout)
    body["words"] = ocr.words["words"]
    body["lines"] = layout.layout["lines"] if layout else []
    body["blocks"] = layout.layout["blocks"] if layout else []
    audit_read(
        session,
        table_name="ocr_pages",
        record_id=ocr.id,
        patient_id=shell_file.patient_id,
        reason="view document page",
    )
    return jsonify(body)
