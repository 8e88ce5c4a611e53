"""`flask record rebuild`: every profile's record made again from its documents' records.

The record stage keeps each profile's record current as documents come and go. When a
release changes how mentions are keyed or merged (`app.pipeline.record.fold.RULES`), a
record made before it is *stale*: the next document merged into or taken out of it makes
it again first. `--stale` does that now for every stale profile (the Procfile's
`release` step runs it after the migrations); without it, every profile is made again.
Each profile is rebuilt in its own transaction, under its row lock, so documents merging
meanwhile wait for it and then fold in.
"""

from __future__ import annotations

import json
import uuid

import click
from flask.cli import AppGroup
from sqlalchemy import select

from app.db import get_db
from app.models import UserProfile
from app.outputs import record

record_group = AppGroup("record", help="Profiles' merged health records.")


@record_group.command("rebuild")
@click.option("--profile", "profile_id", type=click.UUID, default=None, help="Only this profile.")
@click.option("--stale", is_flag=True, help="Only records made under older rules.")
def rebuild(profile_id: uuid.UUID | None, stale: bool) -> None:
    """Derive every mention again from the documents' records and merge every entry."""
    db = get_db()
    with db.session() as session:
        query = select(UserProfile.id).order_by(UserProfile.id)
        if profile_id is not None:
            query = query.where(UserProfile.id == profile_id)
        profiles = list(session.scalars(query))
        if stale:
            profiles = [pid for pid in profiles if record.stale(session, pid)]
    if profile_id is not None and not profiles and not stale:
        raise click.ClickException("no such profile")
    totals = {"profiles": 0, "documents": 0, "mentions": 0, "entries": 0}
    for pid in profiles:
        with db.session() as session:
            counted = record.rebuild_profile(session, pid)
        totals["profiles"] += 1
        for name, value in counted.items():
            totals[name] += value
    click.echo(json.dumps(totals))
