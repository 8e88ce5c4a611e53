"""Where each document stands: its status, its run's stages, and why it stopped.

Read from the same rows the API reads (`job_queue` for the run, `processing_errors`
for a final failure), for many documents in a few queries.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import IN_FLIGHT_STATUSES, ClinicalDocument, Job, ProcessingError, ShellFile
from app.pipeline import STAGE_NAMES
from app.runs.states import REPROCESSABLE_STATUSES
from app.web import wording


def _runs(session: Session, files: list[ShellFile]) -> dict[uuid.UUID, dict[str, Job]]:
    run_of = {f.id: f.run_number for f in files}
    jobs: dict[uuid.UUID, dict[str, Job]] = defaultdict(dict)
    for job in session.scalars(select(Job).where(Job.shell_file_id.in_(list(run_of)))):
        if job.shell_file_id is not None and job.run_number == run_of[job.shell_file_id]:
            jobs[job.shell_file_id][job.job_type] = job
    return jobs


def _final_errors(session: Session, files: list[ShellFile]) -> dict[uuid.UUID, ProcessingError]:
    stopped = [f.id for f in files if f.status in ("failed", "quarantined")]
    if not stopped:
        return {}
    rows = session.scalars(
        select(ProcessingError)
        .where(ProcessingError.shell_file_id.in_(stopped), ProcessingError.is_final.is_(True))
        .order_by(ProcessingError.id)
    )
    return {row.shell_file_id: row for row in rows}  # the latest final error wins


def _kinds(session: Session, files: list[ShellFile]) -> dict[uuid.UUID, str | None]:
    rows = session.execute(
        select(ClinicalDocument.shell_file_id, ClinicalDocument.document_kind).where(
            ClinicalDocument.shell_file_id.in_([f.id for f in files])
        )
    )
    return {row.shell_file_id: row.document_kind for row in rows}


def summaries(session: Session, files: list[ShellFile], *, can_write: bool) -> list[dict[str, Any]]:
    """What the document list shows of each file, JSON-ready (the page polls the same)."""
    if not files:
        return []
    runs, errors = _runs(session, files), _final_errors(session, files)
    kinds = _kinds(session, files)
    return [
        summary(f, runs.get(f.id, {}), errors.get(f.id), kinds.get(f.id), can_write=can_write)
        for f in files
    ]


def summary(
    shell_file: ShellFile,
    run: dict[str, Job],
    error: ProcessingError | None,
    kind: str | None,
    *,
    can_write: bool,
) -> dict[str, Any]:
    stages = [
        {
            "name": name,
            "label": wording.stage_label(name),
            "lane": run[name].job_lane if name in run else None,
            "status": run[name].status if name in run else "not_run",
        }
        for name in STAGE_NAMES
    ]
    error_type = error.error_type if error else None
    return {
        "id": str(shell_file.id),
        "filename": shell_file.original_filename,
        "status": shell_file.status,
        "status_label": wording.status_label(shell_file.status),
        "in_flight": shell_file.status in IN_FLIGHT_STATUSES,
        "uploaded_at": shell_file.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        "type_label": wording.type_label(shell_file.mime_type, kind),
        "stages": stages,
        "stages_done": sum(1 for stage in stages if stage["status"] == "completed"),
        "stage_count": len(stages),
        "reason": wording.reason_text(
            shell_file.status, error_type, error.stage if error else None
        ),
        "can_reprocess": can_write
        and shell_file.status in REPROCESSABLE_STATUSES
        and wording.may_retry(shell_file.status, error_type),
    }


def blank() -> dict[str, Any]:
    """A row for the page's template, which its script fills in for a new upload."""
    stages = [
        {"name": name, "label": wording.stage_label(name), "lane": None, "status": "not_run"}
        for name in STAGE_NAMES
    ]
    return {
        "id": "__ID__",
        "filename": "",
        "status": "uploaded",
        "status_label": wording.status_label("uploaded"),
        "in_flight": True,
        "uploaded_at": "",
        "type_label": "",
        "stages": stages,
        "stages_done": 0,
        "stage_count": len(stages),
        "reason": None,
        "can_reprocess": False,
    }
