"""the audit chain keyed with HMAC, TRUNCATE refused, the application's own role, and
row-level security on the tables of patient data

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 01:00:00.000000

Issue #14, items 5 and 10.

- `audit_chain.keyed`: seals are now HMAC-SHA256 with `AUDIT_HMAC_KEY`, a key the
  database never holds. Existing seals stay as they are and keep verifying: the column
  is added false for every seal written before this revision (plain SHA-256), and the
  sealer writes true from now on. The first keyed seal chains onto the last unkeyed one
  through its `prev_hash`, so it vouches for the whole unkeyed prefix (changing any old
  row changes the hash it rests on), and the verifier refuses an unkeyed seal after a
  keyed one. We do not re-seal the old rows with the key here: that would rewrite an
  append-only table, and it would need the key in the release step.
- TRUNCATE of `audit_log` and `audit_chain` is refused by a statement trigger (the
  append-only function of 0001 raises), for the owner too. PostgreSQL only: SQLite has
  no TRUNCATE and no roles.
- The role `sfp_app` (app.models.APP_ROLE), created if absent: NOLOGIN (give it a
  login and a password, or map it in pg_hba, to run the web and workers as it),
  NOSUPERUSER, NOBYPASSRLS, NOCREATEROLE, NOCREATEDB, owning nothing. It gets SELECT and
  INSERT on the audit tables only (no UPDATE, DELETE, TRUNCATE; not being the owner it
  cannot ALTER them or drop their triggers), SELECT on `alembic_version`, DML on every
  other table, and the same on tables later revisions create (default privileges of the
  migrating role). Creating it needs CREATEROLE; a database administrator may create it
  beforehand instead. Roles belong to the cluster, so the downgrade revokes what this
  database granted and leaves the role.

Item 10: row-level security (PostgreSQL only; SQLite has none, and the embedded default
relies on the application's checks alone). A row is the system's (a connection with
`app.system = on`) or the caller's, the account `app.db` names per transaction
(`app.account_id`), by the live-grant rule rendered by `app.access.identity` from
`app.access.grants` (read_only or above: the profiles it reaches, once per statement).
Policies:

- rows of a profile (`patient_id`): the profile is one the caller reaches;
- rows of a document (`shell_file_id`): the document is a shell file the caller sees
  (shell_files' own policy applies inside);
- `blob_chunks` (keyed by storage key): read only through a visible shell file's
  `storage_key` or a visible scan's repaired copy; written by any named caller or the
  system (the upload writes its bytes before the row that names them is visible).

Each table's policy is FORCEd, so the tables' owner is held too: a deployment that runs
the service with the owner's URL (`DATABASE_URL` = `MIGRATIONS_DATABASE_URL`, the default)
is still protected; superusers and BYPASSRLS roles are not (run the service as `sfp_app`).
Migrations act as the system (migrations/env.py). The rule reads `user_profiles` and
`profile_permissions`, which have no policy themselves.

The policies hold the rule as this revision renders it; a later change of the rule needs
a revision that writes them again (tests/app/test_rls.py compares policy and rule on the
access-matrix callers).

kind "expand": it adds a column, triggers, grants, a role and policies;
nothing is dropped or rewritten. reversible False: the downgrade drops `audit_chain.keyed`, which holds a value
for every seal written after the upgrade; without it the older code would read every
keyed seal as a broken SHA-256 one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.access.identity import CALLER_SQL, SYSTEM_SQL, reachable_profiles_sql
from app.models import APP_ROLE, AUDIT_TABLES

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

kind = "expand"
reversible = False

_CREATE_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- another database of this cluster created it at the same moment
END $$;
"""


def _grant_app_role() -> None:
    op.execute(_CREATE_ROLE)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"REVOKE UPDATE, DELETE ON {', '.join(AUDIT_TABLES)} FROM {APP_ROLE}")
    op.execute(f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {APP_ROLE}")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public"
        f" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}"
    )


def _revoke_app_role() -> None:
    revoke = f"REVOKE USAGE, SELECT ON SEQUENCES FROM {APP_ROLE}"  # noqa: S608 (a constant)
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public {revoke}")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public"
        f" REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {APP_ROLE}"
    )
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {APP_ROLE}")


#: Tables of patient data, by how a row names whose it is.
PROFILE_TABLES = (
    "shell_files",
    "job_queue",
    "clinical_entities",
    "clinical_records",
    "legacy_document_imports",
)
DOCUMENT_TABLES = (
    "security_scans",
    "ocr_pages",
    "page_layouts",
    "clinical_documents",
    "narratives",
    "ai_usage",
    "processing_errors",
)
RLS_TABLES = (*PROFILE_TABLES, *DOCUMENT_TABLES, "blob_chunks")


def _row_level_security() -> None:
    reachable = f"{SYSTEM_SQL} OR patient_id IN ({reachable_profiles_sql()})"
    for table in PROFILE_TABLES:
        op.execute(f"CREATE POLICY {table}_reach ON {table} USING ({reachable})")
    for table in DOCUMENT_TABLES:
        op.execute(
            f"CREATE POLICY {table}_reach ON {table}"  # noqa: S608 (constants)
            f" USING ({SYSTEM_SQL} OR shell_file_id IN (SELECT id FROM shell_files))"
        )
    read = (
        f"{SYSTEM_SQL} OR storage_key IN (SELECT storage_key FROM shell_files)"  # noqa: S608
        " OR storage_key IN (SELECT repaired_storage_key FROM security_scans)"
    )
    write = f"{SYSTEM_SQL} OR {CALLER_SQL} IS NOT NULL"
    op.execute(f"CREATE POLICY blob_chunks_read ON blob_chunks FOR SELECT USING ({read})")
    op.execute(f"CREATE POLICY blob_chunks_insert ON blob_chunks FOR INSERT WITH CHECK ({write})")
    op.execute(
        f"CREATE POLICY blob_chunks_update ON blob_chunks FOR UPDATE USING ({write})"
        f" WITH CHECK ({write})"
    )
    op.execute(f"CREATE POLICY blob_chunks_delete ON blob_chunks FOR DELETE USING ({write})")
    for table in RLS_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def _no_row_level_security() -> None:
    for table in RLS_TABLES:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for table in (*PROFILE_TABLES, *DOCUMENT_TABLES):
        op.execute(f"DROP POLICY IF EXISTS {table}_reach ON {table}")
    for name in ("read", "insert", "update", "delete"):
        op.execute(f"DROP POLICY IF EXISTS blob_chunks_{name} ON blob_chunks")


def upgrade() -> None:
    op.add_column(
        "audit_chain",
        sa.Column("keyed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in AUDIT_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )
    _grant_app_role()
    _row_level_security()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _no_row_level_security()
        _revoke_app_role()
        for table in AUDIT_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    with op.batch_alter_table("audit_chain") as batch:
        batch.drop_column("keyed")
