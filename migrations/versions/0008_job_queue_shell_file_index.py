"""drop job_queue's index on shell_file_id alone

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 14:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# For `flask deploy` (app/ops/deploy.py): drops an index; its downgrade only builds it again.
kind = "contract"
reversible = True


def upgrade() -> None:
    # The unique index on (shell_file_id, run_number, job_type) leads with shell_file_id,
    # so it serves every lookup by document (and the cascade from shell_files) already.
    # The second index only cost every job row insert and (non-HOT) update a write.
    op.drop_index(op.f("ix_job_queue_shell_file_id"), table_name="job_queue")


def downgrade() -> None:
    op.create_index(op.f("ix_job_queue_shell_file_id"), "job_queue", ["shell_file_id"])
