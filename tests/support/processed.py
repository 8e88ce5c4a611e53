"""A document taken through every stage in the test's own transaction.

API tests run in a transaction the worker cannot see, yet the access matrix and the
fuzzer need a document with pages, entities, records and a narrative to read. This
runs the real stage functions (security scan, text layer, spatial mapping, the local
AI provider's three passes) in-process and saves their output through the same
`stage_outputs` / `clinical_store` functions the tasks use, then marks the run done.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from flask import Flask
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.models import Job, ShellFile
from app.outputs import ai_lane, fast_lane, record
from app.pipeline import layout, ocr, security
from app.pipeline.ai.provider import make_provider
from app.runs import states


def process_in_place(app: Flask, session: Session, shell_file_id: uuid.UUID) -> ShellFile:
    """Run every stage on the stored bytes of `shell_file_id` and save what each finds.

    The document must be a born-digital PDF or plain text (no Tesseract is started).
    Leaves the shell file `completed` with its run's jobs completed; flushes, does not
    commit. Raises `SecurityRejected` if the scan refuses the file.
    """
    shell_file = session.get(ShellFile, shell_file_id)
    assert shell_file is not None
    blobs = app.extensions["blobs"]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "document"
        with path.open("wb") as out:
            for chunk in blobs.read(session, shell_file.storage_key):
                out.write(chunk)
        report = security.scan(
            path, security.ScanLimits(), claimed_name=shell_file.original_filename
        )
        fast_lane.save_security_scan(session, shell_file.id, report, None)
        pages = list(ocr.iter_pages(path, report.mime_type, range(1, report.page_count + 1)))
        settings = app.config["SETTINGS"]
        for page in pages:  # the page images, as the worker's OCR draws them
            source = (path, shell_file.storage_key, report.mime_type)
            fast_lane.draw_page_image(
                settings.data_dir, shell_file.id, source, page, settings.max_image_pixels
            )
    for page in pages:
        fast_lane.save_ocr_page(session, shell_file.id, page)
    fast_lane.summarize_ocr(session, shell_file.id)
    layouts = [layout.map_page(page) for page in pages]
    fast_lane.save_layouts(session, shell_file.id, layouts, layout.document_text(layouts).text)
    session.flush()

    provider = make_provider("local")
    doc = ai_lane.load_document_text(session, shell_file.id)
    entities, usage = provider.detect_entities(doc)
    ai_lane.save_entities(session, shell_file, entities)
    ai_lane.save_usage(session, shell_file.id, "pass1", usage)
    records, usage = provider.enrich(doc, entities)
    ai_lane.save_records(session, shell_file, records)
    ai_lane.save_usage(session, shell_file.id, "pass2", usage)
    narrative, usage = provider.narrate(records, entities)
    ai_lane.save_narrative(session, shell_file, narrative, usage)
    ai_lane.save_usage(session, shell_file.id, "pass3", usage)

    finished = states.now()
    session.execute(
        update(Job)
        .where(Job.shell_file_id == shell_file.id, Job.run_number == shell_file.run_number)
        .values(status="completed", attempts=1, started_at=finished, completed_at=finished)
        .execution_options(synchronize_session=False)
    )
    states.advance_status(shell_file, "processing")
    states.advance_status(shell_file, "completed")
    shell_file.processing_started_at = shell_file.processing_completed_at = finished
    record.refresh_document(session, shell_file)
    session.flush()
    return shell_file
