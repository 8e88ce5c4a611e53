"""clinical_entities: how each mention was found, and the OCR confidence of its words

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 20:30:00.000000

An expand step: two nullable columns, nothing rewritten. Rows written before it read as
found by the curated lexicon, with no OCR confidence.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# For `flask deploy` (app/ops/deploy.py): adds two columns; its downgrade drops what the pipeline
# wrote into them.
kind = "expand"
reversible = False


def upgrade() -> None:
    op.add_column("clinical_entities", sa.Column("found_by", sa.String(16), nullable=True))
    op.add_column("clinical_entities", sa.Column("ocr_confidence", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("clinical_entities", "ocr_confidence")
    op.drop_column("clinical_entities", "found_by")
