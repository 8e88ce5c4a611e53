"""the profile's record: each document's mentions, and the merged entries built from them

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-07 01:00:00.000000

An expand step: two new tables, nothing existing is touched. Its downgrade drops them and
what the record stage wrote there since (derived data, rebuilt by reprocessing), so it is
not counted reversible.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

kind = "expand"
reversible: bool = False

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


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


def downgrade() -> None:
    op.drop_table("record_entries")
    op.drop_index("idx_record_mentions_shell_file", table_name="record_mentions")
    op.drop_index("idx_record_mentions_entry", table_name="record_mentions")
    op.drop_table("record_mentions")
