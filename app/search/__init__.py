"""Full-text search of a profile's pages: the search syntax and filters (`query`), the
queries on PostgreSQL (a generated tsvector with a GIN index) and SQLite (an FTS5 table),
and snippets whose hits are marked without letting page text become markup (`snippets`)."""
