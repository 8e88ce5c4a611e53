"""cancelled documents

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 10:20:54.238551
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# For `flask deploy` (app/ops/deploy.py): widens the status check; its downgrade rewrites
# cancelled documents as failed.
kind = "contract"
reversible = False


BEFORE = ("uploaded", "processing", "completed", "failed", "quarantined", "archived")
AFTER = ("uploaded", "processing", "completed", "failed", "quarantined", "cancelled", "archived")


def _status_check(statuses: tuple[str, ...]) -> str:
    return "status IN ({})".format(", ".join(f"'{status}'" for status in statuses))


def upgrade() -> None:
    # A document can now be cancelled by its owner. Batch mode for SQLite.
    with op.batch_alter_table("shell_files") as batch:
        batch.drop_constraint(op.f("ck_shell_files_status"), type_="check")
        batch.create_check_constraint("status", _status_check(AFTER))


def downgrade() -> None:
    op.execute("UPDATE shell_files SET status = 'failed' WHERE status = 'cancelled'")
    with op.batch_alter_table("shell_files") as batch:
        batch.drop_constraint(op.f("ck_shell_files_status"), type_="check")
        batch.create_check_constraint("status", _status_check(BEFORE))
