"""Removing what a document left behind once its row is gone.

A hard delete removes every copy of a document's bytes once its transaction commits
(`storage.forget_derived_copies`, `FileBlobStore.delete`). What a crash can still leave
is swept here: a worker's local copy of a blob no row names any more, page images of a
document that no longer exists, a file in the file store whose upload never committed,
database chunks no row names. A file younger than `grace` is left alone: an upload
writes its bytes before its row commits, and a worker copies a blob while it reads it.

Local copies and page images live on each machine (`DATA_DIR`), so every worker sweeps
its own at start-up and whichever worker beat's hourly sweep lands on sweeps its own
again; the file store and the database are swept by that sweep too. Names, never
content, are logged.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy import ColumnElement, delete, exists, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.db import Database
from app.models import BlobChunk, SecurityScan, ShellFile
from app.storage import local_copies_dir, local_copy_path, page_images_root

log = logging.getLogger(__name__)

_BATCH = 500
T = TypeVar("T")


@dataclass
class SweepReport:
    local_copies: int = 0
    page_images: int = 0
    stored_files: int = 0
    stored_chunks: int = 0

    def as_json(self) -> dict[str, int]:
        return asdict(self)

    def __add__(self, other: SweepReport) -> SweepReport:
        mine, theirs = asdict(self), asdict(other)
        return SweepReport(**{name: mine[name] + theirs[name] for name in mine})


def sweep_machine(db: Database, data_dir: Path, *, grace: timedelta) -> SweepReport:
    """Remove this machine's local copies and page images whose document is gone."""
    report = SweepReport()
    cutoff = time.time() - grace.total_seconds()
    copies = {}
    for path in _old_entries(local_copies_dir(data_dir), cutoff):
        key = _key_of_copy(data_dir, path)
        if key is not None:  # else a name this code never writes: not ours to judge
            copies[key] = path
    for key in _unnamed_keys(db, list(copies)):
        copies[key].unlink(missing_ok=True)
        report.local_copies += 1
    folders = {}
    for path in _old_entries(page_images_root(data_dir), cutoff):
        shell_file_id = _uuid(path.name)
        if shell_file_id is not None:
            folders[shell_file_id] = path
    for shell_file_id in _gone_documents(db, list(folders)):
        shutil.rmtree(folders[shell_file_id], ignore_errors=True)
        report.page_images += 1
    _log(report)
    return report


def sweep_stores(db: Database, file_root: Path, *, grace: timedelta) -> SweepReport:
    """Remove stored bytes no row names: files in the file store older than `grace`,
    and chunks in the database (written in their row's own transaction, so never in
    flight once visible)."""
    report = SweepReport()
    cutoff = time.time() - grace.total_seconds()
    files = {}
    for folder in _old_entries(file_root, float("inf")):  # a folder's age says nothing
        for path in _old_entries(folder, cutoff) if folder.is_dir() else ():
            if _uuid(path.name) is not None:
                files[f"file:{path.name}"] = path
    for key in _unnamed_keys(db, list(files)):
        files[key].unlink(missing_ok=True)
        report.stored_files += 1
    with db.session() as session:
        result = session.execute(
            delete(BlobChunk).where(~_named(BlobChunk.storage_key)).returning(BlobChunk.seq)
        )
        report.stored_chunks = len(result.all())
    _log(report)
    return report


def _named(key_column: ColumnElement[str] | InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """A row names this key: a document's original, or an accepted repaired copy."""
    return exists().where(ShellFile.storage_key == key_column) | exists().where(
        SecurityScan.repaired_storage_key == key_column
    )


def _unnamed_keys(db: Database, keys: list[str]) -> Iterator[str]:
    for batch in _batches(keys):
        with db.session() as session:
            named = set(_named_among(session, batch))
        yield from (key for key in batch if key not in named)


def _named_among(session: Session, keys: list[str]) -> Iterable[str | None]:
    yield from session.scalars(select(ShellFile.storage_key).where(ShellFile.storage_key.in_(keys)))
    yield from session.scalars(
        select(SecurityScan.repaired_storage_key).where(SecurityScan.repaired_storage_key.in_(keys))
    )


def _gone_documents(db: Database, ids: list[uuid.UUID]) -> Iterator[uuid.UUID]:
    for batch in _batches(ids):
        with db.session() as session:
            present = set(session.scalars(select(ShellFile.id).where(ShellFile.id.in_(batch))))
        yield from (i for i in batch if i not in present)


def _old_entries(folder: Path, cutoff: float) -> Iterator[Path]:
    """Entries of `folder` last changed before `cutoff` (none if it does not exist)."""
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return
    for entry in entries:
        try:
            if entry.stat().st_mtime < cutoff:
                yield entry
        except FileNotFoundError:
            continue  # removed meanwhile


def _key_of_copy(data_dir: Path, path: Path) -> str | None:
    """The storage key a local copy was named after (`storage.local_copy_path`)."""
    scheme, _, rest = path.name.partition("_")
    key = f"{scheme}:{rest}"
    if _uuid(rest) is None or local_copy_path(data_dir, key) != path:
        return None
    return key


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _batches(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]


def _log(report: SweepReport) -> None:
    if any(asdict(report).values()):
        log.info("swept orphans: %s", report.as_json())
