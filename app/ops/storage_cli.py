"""`flask storage sweep`: remove bytes and derived files whose document is gone."""

from __future__ import annotations

import json
from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup

from app.sweeper import sweep_machine, sweep_stores

storage_group = AppGroup("storage", help="Stored bytes and the files derived from them.")


@storage_group.command("sweep")
@click.option(
    "--grace-minutes",
    type=click.IntRange(min=0),
    default=None,
    help="Leave files younger than this; default ORPHAN_GRACE.",
)
def sweep(grace_minutes: int | None) -> None:
    """Remove this machine's local copies and page images, files in the file store and
    chunks in the database that no document names any more."""
    settings = current_app.config["SETTINGS"]
    db, blobs = current_app.extensions["db"], current_app.extensions["blobs"]
    grace = timedelta(
        seconds=settings.orphan_grace_s if grace_minutes is None else grace_minutes * 60
    )
    swept = sweep_machine(db, settings.data_dir, grace=grace)
    click.echo(json.dumps((swept + sweep_stores(db, blobs.file_root, grace=grace)).as_json()))
