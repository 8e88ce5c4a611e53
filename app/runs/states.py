"""The states of a document's run: the shell file's status machine and the job statuses it reads."""

from __future__ import annotations

from datetime import UTC, datetime

from app.models import ShellFile

# Status only moves forward; a reprocess is an explicit new run.
_NEXT_STATUSES: dict[str, frozenset[str]] = {
    "uploaded": frozenset({"processing", "failed", "quarantined", "cancelled", "archived"}),
    "processing": frozenset({"completed", "failed", "quarantined", "cancelled", "archived"}),
    "completed": frozenset({"archived"}),
    "failed": frozenset({"archived"}),
    "quarantined": frozenset({"archived"}),
    "cancelled": frozenset({"archived"}),
    "archived": frozenset(),
}


TERMINAL_SHELL_FILE_STATUSES = frozenset({"failed", "quarantined", "cancelled", "archived"})


class IllegalTransition(Exception):
    """A status change that would move a shell file backwards."""


def now() -> datetime:
    return datetime.now(UTC)


def advance_status(shell_file: ShellFile, new_status: str) -> None:
    if new_status == shell_file.status:
        return
    if new_status not in _NEXT_STATUSES[shell_file.status]:
        raise IllegalTransition(f"shell file cannot go from {shell_file.status} to {new_status}")
    shell_file.status = new_status


REPROCESSABLE_STATUSES = frozenset({"completed", "failed", "cancelled"})


ACTIVE_JOB_STATUSES = ("queued", "running", "retrying")
