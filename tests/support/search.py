"""Documents with pages, a kind, a date and mentions, written straight into the tables
search reads (the pipeline's own path is tested on the real worker)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from app.models import ClinicalDocument, ClinicalEntity, OcrPage
from tests.support.factories import make_shell_file


def add_document(
    session: Session,
    patient_id: uuid.UUID,
    uploaded_by: uuid.UUID | None,
    pages: list[str],
    *,
    kind: str | None = None,
    date: str | None = None,
    mentions: tuple[tuple[str, str], ...] = (),
    status: str = "completed",
    uploaded_at: datetime | None = None,
    name: str = "letter.pdf",
) -> uuid.UUID:
    """A document of `pages` (their text), Pass 2's `kind` and `date`, and Pass 1
    `mentions` as (type, text); returns its id."""
    extra = {"created_at": uploaded_at} if uploaded_at is not None else {}
    shell_file = make_shell_file(
        session, patient_id, uploaded_by, status=status, original_filename=name, **extra
    )
    for number, text in enumerate(pages, start=1):
        session.add(
            OcrPage(
                shell_file_id=shell_file.id,
                page_number=number,
                width=595.0,
                height=842.0,
                unit="pt",
                engine="text-layer",
                text=text,
                mean_confidence=None,
                word_count=len(text.split()),
                is_empty=not text.strip(),
                words={"words": []},
            )
        )
    if kind is not None or date is not None:
        session.add(
            ClinicalDocument(
                shell_file_id=shell_file.id,
                document_kind=kind,
                document_date=date,
                service_dates={"dates": []},
            )
        )
    for index, (entity_type, text) in enumerate(mentions, start=1):
        session.add(
            ClinicalEntity(
                shell_file_id=shell_file.id,
                patient_id=patient_id,
                entity_key=f"e{index}",
                entity_type=entity_type,
                text=text,
                start_offset=0,
                end_offset=len(text),
                page=1,
                confidence=0.9,
            )
        )
    session.flush()
    return shell_file.id
