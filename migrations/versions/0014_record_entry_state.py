"""each entry of the record keeps what it needs to take a new document: its state; each
profile, the rules its record was made under

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 05:00:00.000000

`record_entries.state` holds an entry's witnesses and tallies
(`app.pipeline.record.fold`), so a new document is folded into the entries it touches
from its own mentions, not from all the profile's. `detail` (each test's whole series) is
no longer written: a series is merged from its mentions when read. The upgrade empties
`detail`; an entry without a state is rebuilt from its mentions the next time a document
touches it.

`user_profiles.record_rules`: the version of the rules that key and merge mentions its
record was made under (`app.pipeline.record.fold.RULES`). NULL for every profile here, so
each record is made again from its documents' records before it next changes, or by
`flask record rebuild --stale` (the Procfile's release step): this release keys some
mentions differently, and documents completed before revision 0013 have no mentions.

An expand step, and reversible: `state` and `record_rules` are derived, from
`record_mentions` and the code. The downgrade writes every test's `detail` again from its
mentions, as the release before this one reads it, then drops both columns.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

kind = "expand"
reversible: bool = True

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column("record_entries", sa.Column("state", JSON, nullable=True))
    op.add_column("user_profiles", sa.Column("record_rules", sa.Integer(), nullable=True))
    op.execute("UPDATE record_entries SET detail = NULL")


def _details() -> list[dict[str, Any]]:
    """Every test's entry in full, merged from its mentions, as revision 0013 kept it."""
    from app.pipeline.record.mentions import mention_from_json
    from app.pipeline.record.merge import merge_entry, plain

    mentions = sa.table(
        "record_mentions",
        sa.column("patient_id", sa.Uuid()),
        sa.column("section", sa.String()),
        sa.column("merge_key", sa.String()),
        sa.column("data", JSON),
    )
    rows = op.get_bind().execute(
        sa.select(mentions.c.patient_id, mentions.c.merge_key, mentions.c.data)
        .where(mentions.c.section == "observations")
        .order_by(mentions.c.patient_id, mentions.c.merge_key)
    )
    groups: dict[tuple[Any, str], list[Any]] = {}
    for patient_id, key, data in rows:
        groups.setdefault((patient_id, key), []).append(mention_from_json(data))
    details = []
    for (patient_id, key), group in groups.items():
        entry = merge_entry("observations", key, group)
        if entry is not None:
            details.append({"p": patient_id, "k": key, "detail": plain(entry)})
    return details


def downgrade() -> None:
    entries = sa.table(
        "record_entries",
        sa.column("patient_id", sa.Uuid()),
        sa.column("section", sa.String()),
        sa.column("merge_key", sa.String()),
        sa.column("detail", JSON),
    )
    details = _details()
    if details:
        op.get_bind().execute(
            entries.update()
            .where(
                entries.c.patient_id == sa.bindparam("p"),
                entries.c.section == "observations",
                entries.c.merge_key == sa.bindparam("k"),
            )
            .values(detail=sa.bindparam("detail")),
            details,
        )
    op.drop_column("record_entries", "state")
    op.drop_column("user_profiles", "record_rules")
