"""Building a legacy `documents` table (the shape `app.ops.legacy` documents) with SQL."""

from __future__ import annotations

from sqlalchemy import Connection, text


def create_legacy_table(connection: Connection, table: str) -> None:
    connection.execute(
        text(
            f"""
            CREATE TABLE {table} (
                id bigint PRIMARY KEY,
                patient_id uuid NOT NULL,
                filename text,
                mime_type text,
                content bytea,
                sha256 text,
                created_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
    )


def add_document(
    connection: Connection,
    table: str,
    legacy_id: int,
    account_id: object,
    content: bytes,
    *,
    filename: str | None = "letter.txt",
    sha256: str | None = None,
) -> None:
    connection.execute(
        text(
            f"INSERT INTO {table} (id, patient_id, filename, mime_type, content, sha256)"
            " VALUES (:id, :account, :filename, 'application/octet-stream', :content, :sha256)"
        ),
        {
            "id": legacy_id,
            "account": account_id,
            "filename": filename,
            "content": content,
            "sha256": sha256,
        },
    )
