"""Whether a document's bytes, and the page images drawn from them, may be served.

The one rule, for the API's download and the web's page images alike: only once the
security scan of the document's current run has passed. A document the scan (or a later
stage) quarantined is withheld with its reason, an `error_type` code, never a message;
its owner may still delete it. One not scanned yet, one whose scan is running again (a
reprocess: the new verdict may refuse it), or whose scan did not finish is withheld too.
Views answer `ContentWithheld` with 409.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Job, ProcessingError, SecurityScan, ShellFile
from app.pipeline import STAGE_NAMES

SCAN_STAGE = STAGE_NAMES[0]


class ContentWithheld(Exception):
    """The document's bytes may not be served (yet): answer 409 with `code`, and
    `reason` (an `error_type`) when a final error says why."""

    status = 409

    def __init__(self, code: str, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.reason = code, message, reason


def passed_scan(session: Session, shell_file: ShellFile) -> SecurityScan:
    """The scan verdict under which the document may be served (which copy the later
    stages read is on it). Raises ContentWithheld otherwise."""
    if shell_file.status == "quarantined":
        raise ContentWithheld(
            "quarantined",
            "the file was quarantined and is not served; its owner may delete it",
            _final_reason(session, shell_file),
        )
    # A job row of the current run is kept unless it completed or was cancelled (pruned
    # later, `jobs prune`), so a missing one never hides a refusal.
    scan_job = session.scalar(
        select(Job.status).where(
            Job.shell_file_id == shell_file.id,
            Job.run_number == shell_file.run_number,
            Job.job_type == SCAN_STAGE,
        )
    )
    if scan_job == "failed":  # refused, then archived; or a scan that could not run
        raise ContentWithheld(
            "not_scanned",
            "the file did not pass the security scan and is not served",
            _final_reason(session, shell_file),
        )
    verdict = session.get(SecurityScan, shell_file.id)
    if verdict is None or scan_job not in (None, "completed"):
        raise ContentWithheld(
            "not_scanned", "the file is not served until the security scan has passed"
        )
    return verdict


def _final_reason(session: Session, shell_file: ShellFile) -> str | None:
    """The `error_type` of the document's latest final error."""
    return session.scalar(
        select(ProcessingError.error_type)
        .where(ProcessingError.shell_file_id == shell_file.id, ProcessingError.is_final.is_(True))
        .order_by(ProcessingError.id.desc())
        .limit(1)
    )
