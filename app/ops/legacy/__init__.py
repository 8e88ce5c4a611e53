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
two importers from racing). The package: the legacy table and where the import writes
(`table`), the import (`importer`), the check (`verify`) and the commands
`flask --app app legacy import|verify` (`commands`).
"""

from app.ops.legacy.commands import legacy_group
from app.ops.legacy.importer import (
    BATCH_SIZE,
    LEGACY_CATEGORY,
    LEGACY_PRIORITY,
    SELF_PROFILE_NAME,
    ImportReport,
    import_documents,
)
from app.ops.legacy.table import DEFAULT_TABLE, LegacyImportError, Target, legacy_table
from app.ops.legacy.verify import VerifyReport, verify_import

__all__ = [
    "BATCH_SIZE",
    "DEFAULT_TABLE",
    "LEGACY_CATEGORY",
    "LEGACY_PRIORITY",
    "SELF_PROFILE_NAME",
    "ImportReport",
    "LegacyImportError",
    "Target",
    "VerifyReport",
    "import_documents",
    "legacy_group",
    "legacy_table",
    "verify_import",
]
