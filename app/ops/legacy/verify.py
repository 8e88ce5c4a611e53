"""Checking an import: every legacy row mapped, every mapped shell file holding its bytes."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.db import Database
from app.ops.legacy.table import SAMPLE_IDS, Target, check_table


@dataclass
class VerifyReport:
    ok: bool
    legacy_rows: int
    legacy_bytes: int
    mapped: int  # legacy rows with a mapping
    imported: int  # of those, moved into a new shell file
    duplicates: int  # of those, mapped onto a shell file that already held the bytes
    deleted_since: int  # of those, whose shell file its owner has deleted since
    missing: int  # legacy rows without a mapping
    missing_ids: list[int]
    mismatched: int  # mapped rows whose shell file or blob disagrees with the legacy bytes
    mismatched_ids: list[int]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def verify_import(db: Database, target: Target) -> VerifyReport:
    """Compare the legacy table with what the import made of it: every legacy row must
    be mapped, and every mapped shell file must hold the legacy bytes (size, sha256 of the
    row, sha256 of the stored blob). Raises `LegacyImportError` if the table is unreadable.
    """
    with db.session() as session:
        check_table(session, target.table)
        t = target.table
        legacy_rows, legacy_bytes = session.execute(
            text(f"SELECT count(*), coalesce(sum(length(content)), 0) FROM {t}")  # noqa: S608
        ).one()
        mapped, imported, duplicates, deleted = session.execute(
            text(
                f"""
                SELECT count(*), count(*) FILTER (WHERE NOT m.duplicate),
                       count(*) FILTER (WHERE m.duplicate),
                       count(*) FILTER (WHERE m.shell_file_id IS NULL)
                FROM legacy_document_imports m JOIN {t} d ON d.id = m.legacy_id
                """  # noqa: S608
            )
        ).one()
        missing = _ids(
            session,
            f"SELECT d.id FROM {t} d WHERE NOT EXISTS"  # noqa: S608
            " (SELECT 1 FROM legacy_document_imports m WHERE m.legacy_id = d.id)",
        )
        mismatched = _mismatched(session, target)
    return VerifyReport(
        ok=not missing and not mismatched,
        legacy_rows=legacy_rows,
        legacy_bytes=legacy_bytes,
        mapped=mapped,
        imported=imported,
        duplicates=duplicates,
        deleted_since=deleted,
        missing=len(missing),
        missing_ids=missing[:SAMPLE_IDS],
        mismatched=len(mismatched),
        mismatched_ids=mismatched[:SAMPLE_IDS],
    )


def _ids(session: Session, sql: str) -> list[int]:
    return [int(value) for value in session.scalars(text(sql + " ORDER BY 1"))]


def _mismatched(session: Session, target: Target) -> list[int]:
    """Mapped rows whose shell file disagrees with the legacy bytes. Blobs in PostgreSQL
    are hashed there, chunks in order; file-store blobs are read back and hashed here."""
    joined = f"""
        FROM legacy_document_imports m
        JOIN {target.table} d ON d.id = m.legacy_id
        JOIN shell_files s ON s.id = m.shell_file_id
    """
    bad = _ids(
        session,
        f"""
        SELECT m.legacy_id {joined}
        LEFT JOIN LATERAL (
            SELECT encode(sha256(string_agg(c.data, ''::bytea ORDER BY c.seq)), 'hex') AS digest
            FROM blob_chunks c WHERE c.storage_key = s.storage_key
        ) b ON s.storage_key LIKE 'db:%'
        WHERE encode(sha256(d.content), 'hex') IS DISTINCT FROM m.sha256
           OR s.sha256 IS DISTINCT FROM m.sha256
           OR s.file_size_bytes IS DISTINCT FROM length(d.content)
           OR (s.storage_key LIKE 'db:%' AND b.digest IS DISTINCT FROM m.sha256)
        """,  # noqa: S608 - a checked identifier
    )
    in_files = f"SELECT m.legacy_id, s.storage_key, m.sha256 {joined}"
    elsewhere = session.execute(text(in_files + " WHERE s.storage_key NOT LIKE 'db:%'"))
    for legacy_id, storage_key, sha256 in elsewhere:
        digest = hashlib.sha256()
        for chunk in target.blobs.read(session, storage_key):
            digest.update(chunk)
        if digest.hexdigest() != sha256:
            bad.append(int(legacy_id))
    return sorted(set(bad))
