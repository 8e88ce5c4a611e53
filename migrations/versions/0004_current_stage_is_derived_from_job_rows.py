"""current stage is derived from job rows

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 10:01:41.572213
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# For `flask deploy` (app/ops/deploy.py): drops shell_files.current_stage; what it held is gone,
# so it cannot be undone without loss.
kind = "contract"
reversible = False


def upgrade() -> None:
    # Batch mode so SQLite (the embedded default) can drop the column too.
    with op.batch_alter_table("shell_files") as batch:
        batch.drop_column("current_stage")


def downgrade() -> None:
    with op.batch_alter_table("shell_files") as batch:
        batch.add_column(sa.Column("current_stage", sa.VARCHAR(length=32), nullable=True))
