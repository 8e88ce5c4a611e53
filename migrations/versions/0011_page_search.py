"""Full-text search of every page: a tsvector with a GIN index, or an FTS5 table on SQLite

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 01:00:00.000000

PostgreSQL: `ocr_pages.search_vector`, a STORED generated column
`to_tsvector('english', text)` (PostgreSQL computes it for the rows already there when the
column is added, and on every insert after), and a GIN index on it.

SQLite (the embedded default): `ocr_pages_fts`, an FTS5 table of each page's text keyed by
the page's id, filled from the pages already there and kept in step by triggers on
`ocr_pages` (insert, delete, including the cascade of a hard-deleted document, and a
change of text). Keyed by the page's id rather than SQLite's rowid, which VACUUM may
renumber on a table without an INTEGER PRIMARY KEY. A later migration that rebuilds
`ocr_pages` in batch mode drops these triggers with the old table and must create them
again (`create_sqlite_search` below).

An expand step, and reversible: the downgrade drops only what is derived from
`ocr_pages.text`, which it leaves untouched, and the upgrade derives it all again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

kind = "expand"
reversible: bool = True

# Page text goes in without the two control characters `app.search.snippets` marks hits
# with (char(2), char(3)), so no page can fake a hit.
SQLITE_SEARCH = (
    "CREATE VIRTUAL TABLE ocr_pages_fts USING fts5("
    " text, page_id UNINDEXED, tokenize = 'porter unicode61 remove_diacritics 2')",
    "INSERT INTO ocr_pages_fts (text, page_id)"
    " SELECT replace(replace(text, char(2), ''), char(3), ''), id FROM ocr_pages",
    "CREATE TRIGGER ocr_pages_fts_insert AFTER INSERT ON ocr_pages BEGIN"
    " INSERT INTO ocr_pages_fts (text, page_id)"
    " VALUES (replace(replace(new.text, char(2), ''), char(3), ''), new.id); END",
    "CREATE TRIGGER ocr_pages_fts_delete AFTER DELETE ON ocr_pages BEGIN"
    " DELETE FROM ocr_pages_fts WHERE page_id = old.id; END",
    "CREATE TRIGGER ocr_pages_fts_update AFTER UPDATE OF id, text ON ocr_pages BEGIN"
    " DELETE FROM ocr_pages_fts WHERE page_id = old.id;"
    " INSERT INTO ocr_pages_fts (text, page_id)"
    " VALUES (replace(replace(new.text, char(2), ''), char(3), ''), new.id); END",
)


def create_sqlite_search() -> None:
    for statement in SQLITE_SEARCH:
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.add_column(
            "ocr_pages",
            sa.Column(
                "search_vector",
                TSVECTOR(),
                sa.Computed("to_tsvector('english'::regconfig, text)", persisted=True),
                nullable=True,
            ),
        )
        op.create_index(
            "idx_ocr_pages_search", "ocr_pages", ["search_vector"], postgresql_using="gin"
        )
    else:
        create_sqlite_search()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("idx_ocr_pages_search", table_name="ocr_pages")
        op.drop_column("ocr_pages", "search_vector")
    else:
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER ocr_pages_fts_{trigger}")
        op.execute("DROP TABLE ocr_pages_fts")
