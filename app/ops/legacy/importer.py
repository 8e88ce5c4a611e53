"""The import: each batch of unmapped legacy rows becomes shell files, their bytes,
their runs, their mappings and audit rows, in one transaction (see `app.ops.legacy`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import Database
from app.documents.upload import clean_filename
from app.filetypes import SNIFF_BYTES, is_allowed, sniff_mime
from app.models import AuditLog, LegacyDocumentImport, ShellFile, UserProfile, table_of
from app.ops.legacy.table import SAMPLE_IDS, Target, check_table
from app.runs import enqueue

# The least urgent priority: the relay publishes by priority, so live uploads go first.
LEGACY_PRIORITY = 10
LEGACY_CATEGORY = "background"
SELF_PROFILE_NAME = "Me"
BATCH_SIZE = 500
_LOCK_KEY = 7261546  # pg advisory lock: one importer at a time
_MIN_ID = -(2**63)


@dataclass
class ImportReport:
    scanned: int = 0  # legacy rows not yet mapped when the import looked at them
    imported: int = 0  # new shell files
    duplicates: int = 0  # mapped onto a shell file already holding the same bytes
    profiles_created: int = 0
    runs_enqueued: int = 0
    refused: dict[str, list[int]] = field(default_factory=dict)

    def merge(self, batch: ImportReport) -> None:
        self.scanned += batch.scanned
        self.imported += batch.imported
        self.duplicates += batch.duplicates
        self.profiles_created += batch.profiles_created
        self.runs_enqueued += batch.runs_enqueued
        for reason, ids in batch.refused.items():
            self.refused.setdefault(reason, []).extend(ids)

    def as_json(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["refused"] = {
            reason: {"count": len(ids), "legacy_ids": ids[:SAMPLE_IDS]}
            for reason, ids in sorted(self.refused.items())
        }
        return payload


def import_documents(db: Database, target: Target, *, batch_size: int = BATCH_SIZE) -> ImportReport:
    """Import every legacy row not imported yet; return what was done.

    Each batch commits on its own, so an interrupted import resumes where it stopped.
    Raises `LegacyImportError` if the legacy table cannot be read.
    """
    with db.session() as session:
        check_table(session, target.table)
    report = ImportReport()
    after = _MIN_ID
    while True:
        batch, last_id = _import_batch(db, target, after, batch_size)
        if last_id is None:
            return report
        report.merge(batch)
        after = last_id


def _import_batch(
    db: Database, target: Target, after: int, batch_size: int
) -> tuple[ImportReport, int | None]:
    """Import the next batch of unmapped rows after legacy id `after`, in one transaction.

    A live upload of the same bytes into the same profile can win the race for the
    unique (profile, sha256) index; the batch then rolls back and is tried again, and
    maps onto that upload.
    """
    for attempt in range(3):
        try:
            with db.session() as session:
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
                rows = _next_rows(session, target.table, after, batch_size)
                if not rows:
                    return ImportReport(), None
                return _move(session, target, rows), rows[-1].id
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _next_rows(session: Session, table: str, after: int, limit: int) -> list[Row[Any]]:
    # Hashes and sizes are computed in PostgreSQL; only each document's head (for
    # libmagic) crosses to Python.
    return list(
        session.execute(
            text(
                f"""
                SELECT d.id, d.patient_id AS account_id, d.filename, d.created_at,
                       coalesce(length(d.content), 0) AS size,
                       encode(sha256(d.content), 'hex') AS digest,
                       d.sha256 AS claimed,
                       substring(d.content FROM 1 FOR :sniff) AS head,
                       EXISTS (SELECT 1 FROM accounts a WHERE a.id = d.patient_id) AS has_account
                FROM {table} d
                WHERE d.id > :after
                  AND NOT EXISTS (
                      SELECT 1 FROM legacy_document_imports m WHERE m.legacy_id = d.id)
                ORDER BY d.id
                LIMIT :limit
                """  # noqa: S608 - a checked identifier; values are bound
            ),
            {"sniff": SNIFF_BYTES, "after": after, "limit": limit},
        )
    )


def _refusal(row: Row[Any], mime_type: str, max_bytes: int) -> str | None:
    """Why a legacy row cannot become a shell file, if it cannot: an upload's acceptance
    rules first (not empty, a type on the allow-list judged from the bytes, within the
    size limit), then the old data's own faults."""
    if not row.size:
        return "empty"
    if not is_allowed(mime_type):
        return "unsupported_type"
    if row.size > max_bytes:
        return "too_large"
    if row.claimed is not None and row.claimed.strip().lower() != row.digest:
        return "checksum_mismatch"
    if not row.has_account:
        return "unknown_account"
    return None


@dataclass(frozen=True)
class _Placement:
    row: Row[Any]
    shell_file_id: uuid.UUID
    profile_id: uuid.UUID
    duplicate: bool


def _move(session: Session, target: Target, rows: list[Row[Any]]) -> ImportReport:
    report = ImportReport(scanned=len(rows))
    accepted = []
    mime_types = {row.id: sniff_mime(row.head) if row.size else "" for row in rows}
    for row in rows:
        reason = _refusal(row, mime_types[row.id], target.max_bytes)
        if reason is None:
            accepted.append(row)
        else:
            report.refused.setdefault(reason, []).append(row.id)
    if not accepted:
        return report
    profiles, created = _self_profiles(session, {row.account_id for row in accepted})
    placements = _place(session, accepted, profiles)
    new = [p for p in placements if not p.duplicate]
    shell_files = _insert_shell_files(session, target, new, mime_types)
    _insert_mappings(session, placements)
    for shell_file in shell_files:
        enqueue.enqueue_pipeline(session, shell_file, job_category=LEGACY_CATEGORY)
    _audit(session, created, new, [p for p in placements if p.duplicate])
    report.imported = len(new)
    report.duplicates = len(placements) - len(new)
    report.profiles_created = len(created)
    report.runs_enqueued = len(shell_files)
    return report


def _self_profiles(
    session: Session, account_ids: set[uuid.UUID]
) -> tuple[dict[uuid.UUID, uuid.UUID], list[dict[str, Any]]]:
    """Each account's self profile (its oldest, if several), creating the missing ones."""
    found: dict[uuid.UUID, uuid.UUID] = {}
    for owner, profile_id in session.execute(
        select(UserProfile.account_owner_id, UserProfile.id)
        .where(
            UserProfile.account_owner_id.in_(account_ids),
            UserProfile.profile_type == "self",
            UserProfile.archived.is_(False),
        )
        .order_by(UserProfile.created_at, UserProfile.id)
    ):
        found.setdefault(owner, profile_id)
    created: list[dict[str, Any]] = [
        {
            "id": uuid.uuid4(),
            "account_owner_id": account_id,
            "profile_type": "self",
            "display_name": SELF_PROFILE_NAME,
        }
        for account_id in sorted(account_ids - found.keys())
    ]
    if created:
        session.connection().execute(insert(table_of(UserProfile)), created)
        for row in created:
            found[row["account_owner_id"]] = row["id"]
    return found, created


def _place(
    session: Session, rows: list[Row[Any]], profiles: dict[uuid.UUID, uuid.UUID]
) -> list[_Placement]:
    """Decide each row's shell file: a new one, or the one already holding its bytes."""
    holding: dict[tuple[uuid.UUID, str], uuid.UUID] = {
        (patient_id, sha256): shell_file_id
        for shell_file_id, patient_id, sha256 in session.execute(
            select(ShellFile.id, ShellFile.patient_id, ShellFile.sha256).where(
                ShellFile.patient_id.in_(set(profiles.values())),
                ShellFile.sha256.in_({row.digest for row in rows}),
                ShellFile.status != "archived",
            )
        )
    }
    placements = []
    for row in rows:
        profile_id = profiles[row.account_id]
        existing = holding.get((profile_id, row.digest))
        if existing is None:
            holding[(profile_id, row.digest)] = new_id = uuid.uuid4()
            placements.append(_Placement(row, new_id, profile_id, duplicate=False))
        else:
            placements.append(_Placement(row, existing, profile_id, duplicate=True))
    return placements


def _insert_shell_files(
    session: Session, target: Target, new: list[_Placement], mime_types: dict[int, str]
) -> list[ShellFile]:
    if not new:
        return []
    keys = _store_bytes(session, target, new)
    current = datetime.now(UTC)
    values = [
        {
            "id": p.shell_file_id,
            "patient_id": p.profile_id,
            "uploaded_by": p.row.account_id,
            "original_filename": clean_filename(p.row.filename),
            "mime_type": mime_types[p.row.id],
            "file_size_bytes": p.row.size,
            "sha256": p.row.digest,
            "storage_key": keys[p.shell_file_id],
            "status": "uploaded",
            "run_number": 1,
            "processing_priority": LEGACY_PRIORITY,
            "created_at": p.row.created_at or current,
            "updated_at": current,
        }
        for p in new
    ]
    session.connection().execute(insert(table_of(ShellFile)), values)
    return [ShellFile(**value) for value in values]


def _store_bytes(session: Session, target: Target, new: list[_Placement]) -> dict[uuid.UUID, str]:
    """Copy each new document's bytes into the blob store; return the storage keys.

    With blobs in PostgreSQL the chunks are cut and inserted by one statement, in the
    layout `DatabaseBlobStore` reads (`db:<id>`, seq 0…, `chunk_bytes` each). A file
    store gets each document streamed through `Blobs.put`, a chunk at a time.
    """
    if not target.bytes_in_database:
        return {
            p.shell_file_id: target.blobs.put(
                session, p.shell_file_id, _legacy_chunks(session, target, p.row)
            )
            for p in new
        }
    keys = {p.shell_file_id: f"db:{p.shell_file_id}" for p in new}
    session.execute(
        text(
            f"""
            INSERT INTO blob_chunks (storage_key, seq, data)
            SELECT n.storage_key, g.seq,
                   substring(d.content FROM g.seq * :chunk + 1 FOR :chunk)
            FROM unnest(CAST(:ids AS bigint[]), CAST(:keys AS text[])) AS n(legacy_id, storage_key)
            JOIN {target.table} d ON d.id = n.legacy_id
            CROSS JOIN LATERAL generate_series(0, (length(d.content) - 1) / :chunk) AS g(seq)
            """  # noqa: S608 - a checked identifier; values are bound
        ),
        {
            "chunk": target.chunk_bytes,
            "ids": [p.row.id for p in new],
            "keys": [keys[p.shell_file_id] for p in new],
        },
    )
    return keys


def _legacy_chunks(session: Session, target: Target, row: Row[Any]) -> Iterator[bytes]:
    statement = text(
        f"SELECT substring(content FROM :start FOR :n) FROM {target.table} WHERE id = :id"  # noqa: S608
    )
    for offset in range(0, row.size, target.chunk_bytes):
        yield session.execute(
            statement, {"start": offset + 1, "n": target.chunk_bytes, "id": row.id}
        ).scalar_one()


def _insert_mappings(session: Session, placements: list[_Placement]) -> None:
    session.connection().execute(
        insert(table_of(LegacyDocumentImport)),
        [
            {
                "legacy_id": p.row.id,
                "shell_file_id": p.shell_file_id,
                "account_id": p.row.account_id,
                "patient_id": p.profile_id,
                "sha256": p.row.digest,
                "file_size_bytes": p.row.size,
                "duplicate": p.duplicate,
            }
            for p in placements
        ],
    )


def _audit(
    session: Session,
    profiles: list[dict[str, Any]],
    new: list[_Placement],
    duplicates: list[_Placement],
) -> None:
    """One audit row per write, by the system, in the batch's transaction (one statement:
    `app.audit.log_audit_event` writes the same row shape one at a time)."""

    def row(
        table: str, record: object, patient: uuid.UUID, reason: str, category: str
    ) -> dict[str, Any]:
        return {
            "actor_type": "system",
            "account_id": None,
            "patient_id": patient,
            "table_name": table,
            "record_id": str(record),
            "operation": "create",
            "reason": reason,
            "compliance_category": category,
            "request_id": None,
            "client_address": None,
        }

    rows = [
        row("user_profiles", p["id"], p["id"], "legacy import: self profile", "administration")
        for p in profiles
    ]
    rows += [
        row("shell_files", p.shell_file_id, p.profile_id, "legacy import", "phi_access")
        for p in new
    ]
    rows += [
        row(
            "legacy_document_imports",
            p.row.id,
            p.profile_id,
            "legacy import: same bytes already in the profile",
            "phi_access",
        )
        for p in duplicates
    ]
    session.connection().execute(insert(table_of(AuditLog)), rows)
