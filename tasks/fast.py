"""The fast lane's work: security scan → OCR (in parallel page batches when long) → spatial
mapping.

Each work function loads by id, calls its stage (plain functions in `app.pipeline`), and
saves through `app.outputs.fast_lane`; `tasks.stages` registers them as tasks, and `tasks.base`
does the claiming, heartbeats, retries and error rows.
"""

from __future__ import annotations

import uuid

from celery import group, shared_task
from sqlalchemy.orm import Session

from app.outputs import fast_lane
from app.pipeline import budget, layout, ocr, security
from app.pipeline.clamav import ClamdScanner
from app.pipeline.errors import PermanentError
from app.storage import forget_derived_copies
from tasks.base import (
    BatchTask,
    Handoff,
    Save,
    StageContext,
    run_batch,
)

# The OCR stage's time limits (soft, hard), which its page batches share.
OCR_LIMITS = (110, 120)

# One Tesseract engine per worker process, loaded on first use.
_engine: ocr.Tesseract | None = None


def engine() -> ocr.Tesseract:
    global _engine  # noqa: PLW0603 - a per-process cache of an expensive object
    if _engine is None:
        _engine = ocr.Tesseract()
    return _engine


def scan_work(context: StageContext) -> Save:
    settings = context.settings
    limits = security.ScanLimits(
        max_pages=settings.max_pdf_pages,
        max_image_pixels=settings.max_image_pixels,
        max_stream_bytes=settings.max_pdf_stream_bytes,
    )
    scanner = ClamdScanner(settings.clamd_address) if settings.clamd_address else None
    path = context.local_copy()
    report = security.scan(path, limits, scanner, claimed_name=context.claim.original_filename)
    if report.mime_type == "text/plain":  # read whole as one page: refused before that
        budget.check_text_file(path, context.budget)
    budget.check_pixels(report.pixels, context.budget)

    def save(session: Session) -> None:
        repaired_key = None
        if report.repaired_path is not None:
            with report.repaired_path.open("rb") as repaired:
                repaired_key = context.blobs.put(
                    session, uuid.uuid4(), iter(lambda: repaired.read(1024 * 1024), b"")
                )
            report.repaired_path.unlink(missing_ok=True)
        earlier = fast_lane.security_scan_of(session, context.shell_file_id)
        if earlier is not None and earlier.repaired_storage_key:
            # An earlier run's repaired copy: this run's replaces it, and nothing else
            # names it (its bytes, and this machine's copy, go once this commits).
            context.blobs.delete(session, earlier.repaired_storage_key)
            forget_derived_copies(
                session,
                context.settings.data_dir,
                context.shell_file_id,
                [earlier.repaired_storage_key],
            )
        fast_lane.save_security_scan(session, context.shell_file_id, report, repaired_key)

    return save


def _source(context: StageContext) -> tuple[str, int, str]:
    """What the OCR reads: (storage key, page count, type), as the scan accepted it."""
    with context.db.session() as session:
        scan = fast_lane.security_scan_of(session, context.shell_file_id)
        if scan is None:
            raise PermanentError("the document has no security scan to read from")
        key = scan.repaired_storage_key or context.claim.storage_key
        return key, scan.page_count, scan.detected_mime


def read_pages(context: StageContext, numbers: list[int]) -> None:
    """OCR `numbers` and save each page as soon as it is read (skipping saved ones),
    with the image the web app shows of it, drawn here (never in the web process)."""
    key, _, mime_type = _source(context)
    with context.db.session() as session:
        done = fast_lane.saved_page_numbers(session, context.shell_file_id)
    # A text file's pages are all read as its page 1, so it is read whole every time.
    todo = [n for n in numbers if n not in done or mime_type == "text/plain"]
    if not todo:
        return
    path = context.local_copy(key)
    settings = context.settings
    for page in ocr.iter_pages(path, mime_type, todo, engine()):
        image = fast_lane.draw_page_image(
            settings.data_dir,
            context.shell_file_id,
            (path, key, mime_type),
            page,
            settings.max_image_pixels,
        )
        try:
            with context.db.session() as session:
                fast_lane.save_ocr_page(session, context.shell_file_id, page)
        except BaseException:
            image.unlink(missing_ok=True)  # no page row names it (the document may be gone)
            raise


def ocr_work(context: StageContext) -> Save | Handoff:
    _, page_count, _ = _source(context)
    batch = context.settings.ocr_batch_pages
    if page_count <= batch:
        read_pages(context, list(range(1, page_count + 1)))
        return lambda session: fast_lane.summarize_ocr(session, context.shell_file_id)
    with context.db.session() as session:
        done = fast_lane.saved_page_numbers(session, context.shell_file_id)
    missing = [n for n in range(1, page_count + 1) if n not in done]
    batches = [missing[i : i + batch] for i in range(0, len(missing), batch)]
    # Batches of a document under way go one step ahead of its own priority (the broker's
    # 0-9 is ours minus one), so started documents finish before new ones begin.
    priority = max(0, context.claim.priority - 2)
    signatures = [
        ocr_pages.signature(
            kwargs={"job_id": str(context.claim.job_id), "pages": pages},
            priority=priority,
            immutable=True,
        )
        for pages in batches
    ]
    lease = context.settings.stale_after_s * 4

    def publish() -> None:
        group(signatures).apply_async()

    return Handoff(publish=publish, lease_s=lease)


def finish_ocr(session: Session, context: StageContext) -> bool:
    _, page_count, _ = _source(context)
    if fast_lane.page_count_saved(session, context.shell_file_id) < page_count:
        return False
    fast_lane.summarize_ocr(session, context.shell_file_id)
    return True


def layout_work(context: StageContext) -> Save:
    with context.db.session() as session:
        layouts = [
            layout.map_page(page)
            for page in fast_lane.iter_ocr_pages(session, context.shell_file_id)
        ]
    text = layout.document_text(layouts).text
    budget.check_characters(len(text), context.budget)  # what the AI lane would read

    def save(session: Session) -> None:
        fast_lane.save_layouts(session, context.shell_file_id, layouts, text)

    return save


@shared_task(
    bind=True,
    base=BatchTask,
    name="fast.ocr_pages",
    soft_time_limit=OCR_LIMITS[0],
    time_limit=OCR_LIMITS[1],
)
def ocr_pages(self: BatchTask, job_id: str, pages: list[int], **_earlier: str) -> None:
    """One batch of a long document's OCR (the `ocr` stage's work hands them out). The job
    row names its shell file (`_earlier`: as in `tasks.stages`)."""
    run_batch(self, job_id, lambda context: read_pages(context, pages), finish_ocr)
