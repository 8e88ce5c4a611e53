"""The legacy table, checked before anything reads it, and where the import writes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session

from app.config import MIB
from app.storage import Blobs

DEFAULT_TABLE = "documents"
SAMPLE_IDS = 20  # legacy ids listed per problem in a report
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$")


class LegacyImportError(Exception):
    """The legacy table cannot be read: not PostgreSQL, missing, or not the expected shape."""


@dataclass(frozen=True)
class Target:
    """Where the import writes: the legacy table (a quoted identifier) and the blob store."""

    table: str
    blobs: Blobs
    bytes_in_database: bool  # BLOB_STORAGE_URL=db: chunks are copied inside PostgreSQL
    chunk_bytes: int
    # The upload's size limit (MAX_UPLOAD_BYTES): a larger legacy file is refused as one.
    max_bytes: int = 50 * MIB


def legacy_table(name: str) -> str:
    """`name` (`documents` or `schema.documents`) as a quoted SQL identifier."""
    if not _TABLE_NAME.match(name):
        raise LegacyImportError("the legacy table must be a plain [schema.]name")
    return ".".join(f'"{part}"' for part in name.split("."))


def check_table(session: Session, table: str) -> None:
    """Raise `LegacyImportError` unless `table` can be read, in PostgreSQL, with the
    columns the import needs."""
    if session.get_bind().dialect.name != "postgresql":
        raise LegacyImportError("the legacy import needs PostgreSQL")
    columns = "id, patient_id, filename, content, sha256, created_at"
    try:
        with session.begin_nested():
            session.execute(text(f"SELECT {columns} FROM {table} LIMIT 0"))  # noqa: S608
    except ProgrammingError:
        raise LegacyImportError(
            f"{table} is missing or lacks the columns"
            " id, patient_id, filename, content, sha256, created_at"
        ) from None
