"""The commands: `flask --app app legacy import|verify`, each printing one JSON report."""

from __future__ import annotations

import json
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from app.db import get_db
from app.ops.legacy.importer import BATCH_SIZE, import_documents
from app.ops.legacy.table import DEFAULT_TABLE, LegacyImportError, Target, legacy_table
from app.ops.legacy.verify import verify_import

legacy_group = AppGroup("legacy", help="Import the legacy documents table, and check it.")
_TABLE_OPTION = click.option(
    "--table", default=DEFAULT_TABLE, show_default=True, help="The legacy table, [schema.]name."
)


def _target(table: str) -> Target:
    settings = current_app.config["SETTINGS"]
    try:
        quoted = legacy_table(table)
    except LegacyImportError as exc:
        raise click.ClickException(str(exc)) from None
    return Target(
        table=quoted,
        blobs=current_app.extensions["blobs"],
        bytes_in_database=settings.blob_storage_url == "db",
        chunk_bytes=settings.blob_chunk_bytes,
        max_bytes=settings.max_upload_bytes,
    )


def _emit_and_exit(payload: dict[str, Any], ok: bool) -> None:
    click.echo(json.dumps(payload, default=str))
    if not ok:
        raise SystemExit(1)


@legacy_group.command("import")
@_TABLE_OPTION
@click.option("--batch-size", type=click.IntRange(min=1), default=BATCH_SIZE, show_default=True)
def import_command(table: str, batch_size: int) -> None:
    """Move the legacy documents into shell files, then verify; exit 1 if anything is off."""
    target = _target(table)
    try:
        report = import_documents(get_db(), target, batch_size=batch_size)
        verified = verify_import(get_db(), target)
    except LegacyImportError as exc:
        raise click.ClickException(str(exc)) from None
    _emit_and_exit({"import": report.as_json(), "verify": verified.as_json()}, verified.ok)


@legacy_group.command("verify")
@_TABLE_OPTION
def verify_command(table: str) -> None:
    """Compare counts and checksums of the legacy table and the import; exit 1 on a gap."""
    try:
        verified = verify_import(get_db(), _target(table))
    except LegacyImportError as exc:
        raise click.ClickException(str(exc)) from None
    _emit_and_exit({"verify": verified.as_json()}, verified.ok)
