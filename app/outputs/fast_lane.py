"""Saving and loading what the fast-lane stages produce, keyed by (shell file, stage).

A stage may run twice (at-least-once delivery), so every save replaces what an
earlier run of the same stage wrote rather than adding to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.models import OcrPage, PageLayoutRow, SecurityScan, ShellFile
from app.pipeline import imaging
from app.pipeline.layout import PageLayout
from app.pipeline.ocr import PageText, Word
from app.pipeline.security import ScanReport
from app.storage import page_image_path, write_derived


def save_security_scan(
    session: Session, shell_file_id: uuid.UUID, report: ScanReport, repaired_key: str | None
) -> None:
    session.execute(delete(SecurityScan).where(SecurityScan.shell_file_id == shell_file_id))
    session.add(
        SecurityScan(
            shell_file_id=shell_file_id,
            detected_mime=report.mime_type,
            page_count=report.page_count,
            repaired=report.repaired,
            repaired_storage_key=repaired_key,
            checks={"passed": list(report.checks)},
        )
    )
    shell_file = session.get(ShellFile, shell_file_id)
    if shell_file is not None:
        shell_file.page_count = report.page_count


def security_scan_of(session: Session, shell_file_id: uuid.UUID) -> SecurityScan | None:
    return session.get(SecurityScan, shell_file_id)


def saved_page_numbers(session: Session, shell_file_id: uuid.UUID) -> set[int]:
    return set(
        session.scalars(select(OcrPage.page_number).where(OcrPage.shell_file_id == shell_file_id))
    )


def forget_ocr_pages(session: Session, shell_file_id: uuid.UUID) -> None:
    """Drop the pages earlier runs read. The `ocr` stage skips pages already saved (its
    retries and batches resume where they stopped), so a new run that reads the document
    again must start without them, or it returns the old text."""
    session.execute(delete(OcrPage).where(OcrPage.shell_file_id == shell_file_id))


def save_ocr_page(session: Session, shell_file_id: uuid.UUID, page: PageText) -> None:
    session.execute(
        delete(OcrPage).where(
            OcrPage.shell_file_id == shell_file_id, OcrPage.page_number == page.number
        )
    )
    session.add(
        OcrPage(
            shell_file_id=shell_file_id,
            page_number=page.number,
            width=page.width,
            height=page.height,
            unit=page.unit,
            engine=page.engine,
            rotation=page.rotation,
            text=page.text,
            mean_confidence=page.mean_confidence,
            word_count=len(page.words),
            is_empty=page.is_empty,
            words={"words": [word.as_row() for word in page.words]},
        )
    )


def draw_page_image(
    data_dir: Path,
    shell_file_id: uuid.UUID,
    source: tuple[Path, str, str],
    page: PageText,
    max_pixels: int,
) -> Path:
    """Draw `page` as the web app shows it, from `source` ((local file, its storage key,
    its type), the file OCR read), and keep it where this machine keeps derived files
    (`app.storage.page_image_path`; a hard delete removes them). Returns its path; the
    caller removes it if the page's row is not saved after all."""
    path, key, mime_type = source
    image = imaging.draw_page(
        path,
        mime_type,
        number=page.number,
        rotation=page.rotation,
        words=[(word.text, word.x0, word.y0) for word in page.words],
        grid=(page.width, page.height),
        max_pixels=max_pixels,
    )
    target = page_image_path(data_dir, shell_file_id, page.number, key, page.rotation)
    write_derived(target, imaging.png_bytes(image))
    return target


def summarize_ocr(session: Session, shell_file_id: uuid.UUID) -> None:
    """Set the shell file's page count, raw text and average confidence from its pages."""
    shell_file = session.get(ShellFile, shell_file_id)
    assert shell_file is not None
    rows = session.execute(
        select(OcrPage.text, OcrPage.mean_confidence, OcrPage.word_count)
        .where(OcrPage.shell_file_id == shell_file_id)
        .order_by(OcrPage.page_number)
    ).all()
    shell_file.page_count = len(rows)
    shell_file.extracted_text = "\n\n".join(text for text, _, _ in rows)
    weighted = [(conf, count) for _, conf, count in rows if conf is not None and count]
    total = sum(count for _, count in weighted)
    shell_file.ocr_average_confidence = (
        round(sum(conf * count for conf, count in weighted) / total, 2) if total else None
    )


def page_count_saved(session: Session, shell_file_id: uuid.UUID) -> int:
    return int(
        session.scalar(select(func.count()).where(OcrPage.shell_file_id == shell_file_id)) or 0
    )


def _page_text(row: OcrPage) -> PageText:
    words = tuple(
        Word(str(w[0]), float(w[1]), float(w[2]), float(w[3]), float(w[4]), float(w[5]))
        for w in row.words["words"]
    )
    return PageText(
        row.page_number,
        row.width,
        row.height,
        row.unit,
        row.engine,
        words,
        row.mean_confidence,
        row.rotation,
    )


def iter_ocr_pages(session: Session, shell_file_id: uuid.UUID) -> Iterator[PageText]:
    """The OCR pages in order, loaded one at a time."""
    numbers = sorted(saved_page_numbers(session, shell_file_id))
    for number in numbers:
        row = session.scalar(
            select(OcrPage).where(
                OcrPage.shell_file_id == shell_file_id, OcrPage.page_number == number
            )
        )
        if row is not None:
            yield _page_text(row)
            session.expunge(row)


def layout_json(layout: PageLayout) -> dict[str, Any]:
    return {
        "lines": [
            {
                "text": line.text,
                "box": list(line.box),
                "block": line.block,
                "words": [list(word) for word in line.words],
            }
            for line in layout.lines
        ],
        "blocks": [
            {"box": list(block.box), "first_line": block.first_line, "last_line": block.last_line}
            for block in layout.blocks
        ],
    }


def save_layouts(
    session: Session, shell_file_id: uuid.UUID, layouts: list[PageLayout], document_text: str
) -> None:
    session.execute(delete(PageLayoutRow).where(PageLayoutRow.shell_file_id == shell_file_id))
    for layout in layouts:
        session.add(
            PageLayoutRow(
                shell_file_id=shell_file_id,
                page_number=layout.number,
                width=layout.width,
                height=layout.height,
                columns=layout.columns,
                text=layout.text,
                layout=layout_json(layout),
            )
        )
    shell_file = session.get(ShellFile, shell_file_id)
    assert shell_file is not None
    shell_file.extracted_text = document_text
