"""the profile's record: each document's mentions, and the merged entries built from them

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 01:00:00.000000

An expand step: two new tables, nothing existing is touched. Its downgrade drops them and
what the record stage wrote there since (derived data, rebuilt by reprocessing), so it is
not counted reversible. On PostgreSQL both tables get the row-level security revision
0012 gives every table of a profile's rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.access.identity import SYSTEM_SQL, reachable_profiles_sql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

kind = "expand"
reversible: bool = False

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

#: Rows of a profile: row-level security as revision 0012 gives every such table.
RECORD_TABLES = ("record_mentions", "record_entries")


def _row_level_security() -> None:
    reachable = f"{SYSTEM_SQL} OR patient_id IN ({reachable_profiles_sql()})"
    for table in RECORD_TABLES:
        op.execute(f"CREATE POLICY {table}_reach ON {table} USING ({reachable})")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def upgrade() -> None:
    op.create_table(
        "record_mentions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("shell_file_id", sa.Uuid(), nullable=False),
        sa.Column("section", sa.String(length=16), nullable=False),
        sa.Column("merge_key", sa.String(length=300), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["user_profiles.id"],
            name=op.f("fk_record_mentions_patient_id_user_profiles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shell_file_id"],
            ["shell_files.id"],
            name=op.f("fk_record_mentions_shell_file_id_shell_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_mentions")),
    )
    op.create_index(
        "idx_record_mentions_entry",
        "record_mentions",
        ["patient_id", "section", "merge_key"],
        unique=False,
    )
    op.create_index(
        "idx_record_mentions_shell_file", "record_mentions", ["shell_file_id"], unique=False
    )
    op.create_table(
        "record_entries",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("section", sa.String(length=16), nullable=False),
        sa.Column("merge_key", sa.String(length=300), nullable=False),
        sa.Column("display", sa.String(length=255), nullable=False),
        sa.Column("summary", JSON, nullable=False),
        sa.Column("detail", JSON, nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["user_profiles.id"],
            name=op.f("fk_record_entries_patient_id_user_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "patient_id", "section", "merge_key", name=op.f("pk_record_entries")
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        _row_level_security()


def downgrade() -> None:
    op.drop_table("record_entries")
    op.drop_index("idx_record_mentions_shell_file", table_name="record_mentions")
    op.drop_index("idx_record_mentions_entry", table_name="record_mentions")
    op.drop_table("record_mentions")
