"""Admin commands: `flask --app app accounts|tokens|profiles|db …`.

Each command prints one JSON object on stdout, so scripts can read its answer.
Changes to who may see a profile are audited like any other write.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import click
from alembic import command
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select, update

from app.audit import log_audit_event
from app.db import get_db
from app.documents import lifecycle
from app.models import (
    PERMISSION_LEVELS,
    PROFILE_TYPES,
    Account,
    Job,
    ProfilePermission,
    ShellFile,
    UserProfile,
)
from app.ops.accounts import accounts, tokens
from app.ops.audit_cli import audit_group
from app.ops.deploy import deploy_command
from app.ops.legacy import legacy_group
from app.ops.migrations import alembic_config
from app.ops.record_cli import record_group
from app.ops.storage_cli import storage_group
from app.runs import admin

profiles = AppGroup("profiles", help="Profiles and who may reach them.")
database = AppGroup("db", help="Schema migrations (Alembic).")


def emit(payload: dict[str, Any]) -> None:
    click.echo(json.dumps(payload, default=str))


def fail(message: str) -> NoReturn:
    raise click.ClickException(message)


@profiles.command("create")
@click.option("--owner", required=True, type=click.UUID, help="The owning account id.")
@click.option("--name", required=True)
@click.option("--type", "profile_type", required=True, type=click.Choice(PROFILE_TYPES))
@click.option("--date-of-birth", type=click.DateTime(formats=["%Y-%m-%d"]), default=None)
def create_profile(
    owner: uuid.UUID, name: str, profile_type: str, date_of_birth: datetime | None
) -> None:
    """Create a profile owned by an account."""
    with get_db().session() as session:
        if session.get(Account, owner) is None:
            fail("no such account")
        profile = UserProfile(
            id=uuid.uuid4(),
            account_owner_id=owner,
            profile_type=profile_type,
            display_name=name,
            date_of_birth=date_of_birth.date() if date_of_birth else None,
        )
        session.add(profile)
        log_audit_event(
            session,
            operation="create",
            table_name="user_profiles",
            record_id=profile.id,
            patient_id=profile.id,
            reason="admin: create profile",
            compliance_category="administration",
        )
    emit({"profile_id": profile.id})


@profiles.command("grant")
@click.option("--profile", "profile_id", required=True, type=click.UUID)
@click.option("--account", "account_id", required=True, type=click.UUID)
@click.option("--level", required=True, type=click.Choice(PERMISSION_LEVELS[:-1]))
@click.option("--expires-at", type=click.DateTime(), default=None, help="UTC; default never.")
def grant_profile(
    profile_id: uuid.UUID, account_id: uuid.UUID, level: str, expires_at: datetime | None
) -> None:
    """Share a profile with another account (replacing any active grant)."""
    with get_db().session() as session:
        if session.get(UserProfile, profile_id) is None:
            fail("no such profile")
        if session.get(Account, account_id) is None:
            fail("no such account")
        _revoke(session, profile_id, account_id)
        permission = ProfilePermission(
            id=uuid.uuid4(),
            profile_id=profile_id,
            account_id=account_id,
            permission_level=level,
            expires_at=expires_at.replace(tzinfo=UTC) if expires_at else None,
        )
        session.add(permission)
        log_audit_event(
            session,
            operation="create",
            table_name="profile_permissions",
            record_id=permission.id,
            patient_id=profile_id,
            reason=f"admin: grant {level}",
            compliance_category="administration",
        )
    emit({"permission_id": permission.id})


@profiles.command("revoke")
@click.option("--profile", "profile_id", required=True, type=click.UUID)
@click.option("--account", "account_id", required=True, type=click.UUID)
def revoke_profile(profile_id: uuid.UUID, account_id: uuid.UUID) -> None:
    """Withdraw an account's access to a profile."""
    with get_db().session() as session:
        revoked = _revoke(session, profile_id, account_id)
        log_audit_event(
            session,
            operation="update",
            table_name="profile_permissions",
            record_id=None,
            patient_id=profile_id,
            reason="admin: revoke access",
            compliance_category="administration",
        )
    emit({"revoked": revoked})


def _revoke(session: Any, profile_id: uuid.UUID, account_id: uuid.UUID) -> int:
    active = list(
        session.scalars(
            select(ProfilePermission.id).where(
                ProfilePermission.profile_id == profile_id,
                ProfilePermission.account_id == account_id,
                ProfilePermission.revoked_at.is_(None),
            )
        )
    )
    if active:
        session.execute(
            update(ProfilePermission)
            .where(ProfilePermission.id.in_(active))
            .values(revoked_at=datetime.now(UTC))
        )
    return len(active)


@database.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the schema up to REVISION (default: head)."""
    command.upgrade(
        alembic_config(current_app.config["SETTINGS"].migrations_database_url), revision
    )
    emit({"upgraded_to": revision})


@database.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the schema down to REVISION (for example `-1` or `base`)."""
    command.downgrade(
        alembic_config(current_app.config["SETTINGS"].migrations_database_url), revision
    )
    emit({"downgraded_to": revision})


jobs_group = AppGroup("jobs", help="Dead letters, stuck jobs and old job rows.")


def _job_json(job: Any) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "shell_file_id": job.shell_file_id,
        "stage": job.job_type,
        "status": job.status,
        "attempts": job.attempts,
        "last_error": job.last_error,
        "dead_letter_at": job.dead_letter_at,
        "heartbeat_at": job.heartbeat_at,
    }


@jobs_group.command("dead")
def list_dead_letters() -> None:
    """List the stages that exhausted their attempts."""
    with get_db().session() as session:
        emit({"jobs": [_job_json(job) for job in admin.dead_letters(session)]})


@jobs_group.command("requeue")
@click.option("--job-id", type=click.UUID, default=None, help="One dead-lettered job.")
@click.option("--all-dead", is_flag=True, help="Every dead-lettered job.")
def requeue_dead(job_id: uuid.UUID | None, all_dead: bool) -> None:
    """Run a dead-lettered stage again: a new run of its document from that stage."""
    if (job_id is None) == (not all_dead):
        fail("give --job-id or --all-dead")
    requeued, runs = [], []
    with get_db().session() as session:
        targets = admin.dead_letters(session) if all_dead else [session.get(Job, job_id)]
        for job in targets:
            if job is None or job.status != "dead_letter" or job.shell_file_id is None:
                fail("no such dead-lettered job")
            shell_file = session.get(ShellFile, job.shell_file_id)
            if shell_file is None or shell_file.run_number != job.run_number:
                continue  # its document has been reprocessed or deleted since
            runs.append(
                lifecycle.start_reprocess(
                    session,
                    shell_file,
                    from_stage=job.job_type,
                    reason=f"admin: requeue dead-lettered {job.job_type}",
                    compliance_category="administration",
                )
            )
            requeued.append(shell_file.id)
        published = lifecycle.commit_then_publish(session, *runs)
    emit({"requeued": requeued, "published": published})


@jobs_group.command("requeue-stuck")
@click.option(
    "--older-than",
    type=click.IntRange(min=1),
    default=600,
    show_default=True,
    help="Seconds without a heartbeat or publish.",
)
def requeue_stuck(older_than: int) -> None:
    """Publish again every job queued, running or retrying with no sign of life."""
    dispatcher = current_app.extensions["dispatcher"]
    epoch = dispatcher.epoch()
    with get_db().session() as session:
        stuck = admin.stuck_jobs(session, older_than=timedelta(seconds=older_than))
        for job in stuck:
            dispatcher.republish(session, job, epoch)
        ids = [job.id for job in stuck]
    emit({"requeued": ids})


@jobs_group.command("prune")
@click.option("--older-than-days", type=click.IntRange(min=1), default=90, show_default=True)
def prune_jobs(older_than_days: int) -> None:
    """Delete job rows that completed (or were cancelled) long ago."""
    with get_db().session() as session:
        pruned = admin.prune_completed(session, older_than=timedelta(days=older_than_days))
    emit({"pruned": pruned})


def register_commands(app: Flask) -> None:
    for group in (accounts, tokens, profiles, database, jobs_group, audit_group, legacy_group):
        app.cli.add_command(group)
    app.cli.add_command(deploy_command)
    app.cli.add_command(storage_group)
    app.cli.add_command(record_group)
