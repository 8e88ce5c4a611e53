"""Moving the legacy `documents` table into shell files, once, with nothing lost.

The legacy system kept every document in one table of the same PostgreSQL database,
filed under the *account* that uploaded it (it had no profiles):

    documents(id bigint PRIMARY KEY, patient_id uuid NOT NULL  -- an accounts.id
              filename text, mime_type text, content bytea, sha256 text NULL,
              created_at timestamptz)

`import_documents` moves it in batches of legacy ids, one transaction per batch:
each document becomes a shell file in its account's *self* profile (created if the
account has none), its bytes go to the blob store, its run of six jobs is enqueued at
the background priority and left unpublished (beat's outbox relay publishes them, live
uploads first), and `legacy_document_imports` records where the legacy id went. That
table is the idempotency key: a second import finds every id mapped and changes
nothing. Identical bytes in one profile are one document, as for uploads: a legacy
document whose bytes the profile already holds maps onto that shell file.

Rows that cannot be moved are refused and named (by legacy id, never by content):
`empty` (no bytes), `checksum_mismatch` (the legacy `sha256` disagrees with the bytes)
and `unknown_account` (no such account). They stay unmapped, so `verify_import`
reports them missing until the legacy data is fixed and the import run again.
The legacy `mime_type` is not trusted: the type is read from the bytes.

Both functions need PostgreSQL (set-based SQL, `sha256()`, an advisory lock that keeps
two importers from racing).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import Row, insert, select, text
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlalchemy.orm import Session

from app.db import Database, get_db
from app.documents.upload import clean_filename
from app.filetypes import SNIFF_BYTES, sniff_mime
from app.models import AuditLog, LegacyDocumentImport, ShellFile, UserProfile, table_of
from app.runs import enqueue
from app.storage import Blobs

DEFAULT_TABLE = "documents"
# The least urgent priority: the relay publishes by priority, so live uploads go first.
LEGACY_PRIORITY = 10
LEGACY_CATEGORY = "background"
SELF_PROFILE_NAME = "Me"
BATCH_SIZE = 500
SAMPLE_IDS = 20  # legacy ids listed per problem in a report
_LOCK_KEY = 7261546  # pg advisory lock: one importer at a time
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$")
_MIN_ID = -(2**63)


class LegacyImportError(Exception):
    """The legacy table cannot be read: not PostgreSQL, missing, or not the expected shape."""


@dataclass(frozen=True)
class Target:
    """Where the import writes: the legacy table (a quoted identifier) and the blob store."""

    table: str
    blobs: Blobs
    bytes_in_database: bool  # BLOB_STORAGE_URL=db: chunks are copied inside PostgreSQL
    chunk_bytes: int


def legacy_table(name: str) -> str:
    """`name` (`documents` or `schema.documents`) as a quoted SQL identifier."""
    if not _TABLE_NAME.match(name):
        raise LegacyImportError("the legacy table must be a plain [schema.]name")
    return ".".join(f'"{part}"' for part in name.split("."))


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
        _check_table(session, target.table)
    report = ImportReport()
    after = _MIN_ID
    while True:
        batch, last_id = _import_batch(db, target, after, batch_size)
        if last_id is None:
            return report
        report.merge(batch)
        after = last_id


def _check_table(session: Session, table: str) -> None:
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


def _refusal(row: Row[Any]) -> str | None:
    if not row.size:
        return "empty"
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
    for row in rows:
        reason = _refusal(row)
        if reason is None:
            accepted.append(row)
        else:
            report.refused.setdefault(reason, []).append(row.id)
    if not accepted:
        return report
    profiles, created = _self_profiles(session, {row.account_id for row in accepted})
    placements = _place(session, accepted, profiles)
    new = [p for p in placements if not p.duplicate]
    shell_files = _insert_shell_files(session, target, new)
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


def _insert_shell_files(session: Session, target: Target, new: list[_Placement]) -> list[ShellFile]:
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
            "mime_type": sniff_mime(p.row.head),
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
        _check_table(session, target.table)
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


# The commands: `flask --app app legacy import|verify`.

legacy_group = AppGroup("legacy", help="Import the legacy documents table, and check it.")
_TABLE_OPTION = click.option(
    "--table", default=DEFAULT_TABLE, show_default=True, help="The legacy table, [schema.]name."
)


def _target(table: str) -> Target:
    settings = current_app.config["SETTINGS"]
    try:
        quoted = legacy_table(table)
    except LegacyImportError as exc:
        raise click.ClickException(str(exc)) from None
    return Target(
        table=quoted,
        blobs=current_app.extensions["blobs"],
        bytes_in_database=settings.blob_storage_url == "db",
        chunk_bytes=settings.blob_chunk_bytes,
    )


def _emit_and_exit(payload: dict[str, Any], ok: bool) -> None:
    click.echo(json.dumps(payload, default=str))
    if not ok:
        raise SystemExit(1)


@legacy_group.command("import")
@_TABLE_OPTION
@click.option("--batch-size", type=click.IntRange(min=1), default=BATCH_SIZE, show_default=True)
def import_command(table: str, batch_size: int) -> None:
    """Move the legacy documents into shell files, then verify; exit 1 if anything is off."""
    target = _target(table)
    try:
        report = import_documents(get_db(), target, batch_size=batch_size)
        verified = verify_import(get_db(), target)
    except LegacyImportError as exc:
        raise click.ClickException(str(exc)) from None
    _emit_and_exit({"import": report.as_json(), "verify": verified.as_json()}, verified.ok)


@legacy_group.command("verify")
@_TABLE_OPTION
def verify_command(table: str) -> None:
    """Compare counts and checksums of the legacy table and the import; exit 1 on a gap."""
    try:
        verified = verify_import(get_db(), _target(table))
    except LegacyImportError as exc:
        raise click.ClickException(str(exc)) from None
    _emit_and_exit({"verify": verified.as_json()}, verified.ok)
