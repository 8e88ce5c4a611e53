"""accounts: a session version that ends every web session, and when it was deactivated

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 01:10:00.000000

An expand step: two columns added, nothing rewritten. `session_version` (0 for every
account) is carried in each signed web session; bumping it (sign out everywhere, a new
password, deactivation) ends every session signed before. `deactivated_at` records when
`flask accounts deactivate` turned an account off (`is_active` stays the flag the rules
read). API tokens already have `expires_at` and `revoked_at` (0001).

Not reversible: the downgrade drops both columns, losing the bumps made since (sessions
ended on purpose would come back to life under the old code's rule) and when each
account was deactivated.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

kind = "expand"
reversible: bool = False


def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column("session_version", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("accounts", sa.Column("deactivated_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("accounts", "deactivated_at")
    op.drop_column("accounts", "session_version")
