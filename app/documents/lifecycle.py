"""What can be done to a stored document: reprocess, cancel, archive, delete.

Each use case is written once, for the API, the web pages and the CLI alike: it audits
the change in the same transaction, commits, and only then publishes any job it queued
(`commit_then_publish`; the outbox relay covers a publish that fails after the commit).
A refusal is a domain exception (`CannotReprocess`, `CannotCancel`) raised with the
session rolled back; views map it to their 409 or flash message.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import quotas
from app.audit import audit_document
from app.models import Job, SecurityScan, ShellFile
from app.outputs import fast_lane, record
from app.pipeline import STAGE_NAMES
from app.runs import enqueue, states
from app.runs.enqueue import CannotCancel, CannotReprocess, QueuedJob
from app.storage import forget_derived_copies

__all__ = [
    "CannotCancel",
    "CannotReprocess",
    "archive",
    "cancel",
    "commit_then_publish",
    "hard_delete",
    "reprocess",
    "start_reprocess",
]

#: The jobs a run queued (`enqueue.enqueue_pipeline`, `enqueue.start_new_run`).
Queued = Sequence[Job | QueuedJob]


def commit_then_publish(session: Session, *runs: Queued) -> int:
    """Commit the session, then publish the jobs each run queued; return how many runs
    went to the broker.

    The job rows are in the session's transaction, so they are committed first: a job
    that cannot be published (the broker is down) stays committed and the outbox relay
    sends it later. A failed commit raises before anything is published.
    """
    session.commit()
    dispatcher = current_app.extensions["dispatcher"]
    return sum(1 for queued in runs if dispatcher.publish_after_commit(queued))


def _lock(session: Session, shell_file: ShellFile) -> None:
    """Read the document again under a row lock, so a control decides on its state now,
    not as the caller read it: a cancel racing the run's completion, or a reprocess
    racing an archive, would otherwise write over the state the other one committed."""
    session.refresh(shell_file, with_for_update=True)


def start_reprocess(
    session: Session,
    shell_file: ShellFile,
    *,
    from_stage: str | None = None,
    reason: str,
    compliance_category: str = "phi_access",
) -> list[QueuedJob]:
    """Begin a new run in the caller's transaction and audit it; return the job to
    publish once committed (`commit_then_publish`). For a caller that starts several
    runs in one transaction (the CLI's requeue); `reprocess` is the whole use case.

    Raises CannotReprocess, the session rolled back, for a document in the wrong state,
    an unknown `from_stage`, or earlier stages that did not complete.
    """
    _lock(session, shell_file)
    try:
        queued = enqueue.start_new_run(session, shell_file, from_stage=from_stage)
    except CannotReprocess:
        session.rollback()
        raise
    if STAGE_NAMES.index(from_stage or STAGE_NAMES[0]) <= STAGE_NAMES.index("ocr"):
        fast_lane.forget_ocr_pages(session, shell_file.id)  # every page is read again
    # Out of the profile's record until the new run's record stage puts it back.
    record.remove_document(session, shell_file)
    audit_document(
        session,
        shell_file,
        operation="update",
        reason=reason,
        compliance_category=compliance_category,
    )
    return queued


def reprocess(
    session: Session,
    shell_file: ShellFile,
    *,
    account_id: uuid.UUID,
    from_stage: str | None = None,
    reason: str,
) -> list[QueuedJob]:
    """Start a new run from the first stage or `from_stage`, as `account_id` asked:
    audit, commit, publish. Returns the job it queued. Raises CannotReprocess as
    `start_reprocess` does, and `quotas.QuotaExceeded` past the account's allowance."""
    quotas.take("reprocess", account_id)
    queued = start_reprocess(session, shell_file, from_stage=from_stage, reason=reason)
    commit_then_publish(session, queued)
    return queued


def cancel(session: Session, shell_file: ShellFile, *, reason: str) -> int:
    """Stop the document's run and audit it; return how many jobs were cancelled.
    Raises CannotCancel, the session rolled back, when no run is under way."""
    _lock(session, shell_file)
    try:
        cancelled = enqueue.cancel_run(session, shell_file)
    except CannotCancel:
        session.rollback()
        raise
    audit_document(session, shell_file, operation="update", reason=reason)
    session.commit()
    return cancelled


def archive(session: Session, shell_file: ShellFile, *, reason: str) -> None:
    """Archive the document (its bytes and outputs stay, out of the profile's record) and
    audit it."""
    _lock(session, shell_file)
    states.advance_status(shell_file, "archived")
    record.remove_document(session, shell_file)
    audit_document(session, shell_file, operation="update", reason=reason)
    session.commit()


def hard_delete(session: Session, shell_file: ShellFile, *, reason: str) -> None:
    """Remove the document's bytes (and a repaired copy's) and every row derived from
    it, audited in the same transaction; once that commits, the local copies and page
    images derived from them here too. The audit row outlives the document."""
    blobs = current_app.extensions["blobs"]
    _lock(session, shell_file)
    record.remove_document(session, shell_file)  # its entries rebuilt without it
    repaired = session.scalar(
        select(SecurityScan.repaired_storage_key).where(SecurityScan.shell_file_id == shell_file.id)
    )
    keys = [key for key in (shell_file.storage_key, repaired) if key]
    for key in keys:
        blobs.delete(session, key)
    data_dir = current_app.config["SETTINGS"].data_dir
    forget_derived_copies(session, data_dir, shell_file.id, keys)
    audit_document(session, shell_file, operation="delete", reason=reason)
    session.delete(shell_file)  # ON DELETE CASCADE removes jobs, errors, pages and records
    session.commit()
