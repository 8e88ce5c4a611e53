"""legacy document imports

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 09:00:00.000000

Only the mapping table: the import itself is `flask --app app legacy import` (see the
README's "Legacy documents"), because it publishes work to the broker, may run for
minutes, and must be resumable batch by batch; a migration runs in the release step
as one transaction and should be quick and broker-free.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# For `flask deploy` (app/ops/deploy.py): adds the legacy mapping; its downgrade drops it.
kind = "expand"
reversible = False


def upgrade() -> None:
    op.create_table(
        "legacy_document_imports",
        sa.Column("legacy_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("shell_file_id", sa.Uuid(), nullable=True),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("file_size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("duplicate", sa.Boolean(), nullable=False),
        sa.Column(
            "imported_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["shell_file_id"],
            ["shell_files.id"],
            name=op.f("fk_legacy_document_imports_shell_file_id_shell_files"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("legacy_id", name=op.f("pk_legacy_document_imports")),
    )
    op.create_index(
        op.f("ix_legacy_document_imports_shell_file_id"),
        "legacy_document_imports",
        ["shell_file_id"],
        unique=False,
    )


def downgrade() -> None:
    # The imported shell files stay; a later import maps their legacy rows onto them again
    # by their bytes (a profile holds one document per SHA-256), so nothing is doubled.
    op.drop_index(
        op.f("ix_legacy_document_imports_shell_file_id"), table_name="legacy_document_imports"
    )
    op.drop_table("legacy_document_imports")
