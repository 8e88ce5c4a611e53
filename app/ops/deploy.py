"""Deploying a release's schema: migrate, smoke-test the live service, roll back on failure.

`deploy` (1) notes the database's current Alembic revision, (2) upgrades to head,
(3) smoke-tests the live service at a base URL: a small PDF made for this run is
uploaded at priority 1 into a smoke profile and polled until `completed`, and (4) if the
upgrade or the smoke test fails, rolls the schema back as far towards the revision noted
in (1) as it can without losing data, and smoke-tests again, so the report says whether
the service works on the schema it is left on. Every step is in one JSON report; a failed
deploy is a non-zero exit of `flask --app app deploy`.

Each revision declares how far a rollback may go (module attributes, checked by
tests/test_migrations.py): `reversible` is True only when its downgrade loses nothing
(it drops or rewrites nothing that holds data: an index, a constraint); `kind` is
"expand" when it only adds, so the previous release still runs on the schema it leaves,
or "contract" when it drops, renames or rewrites. A rollback undoes reversible revisions,
newest first, and stops before the first one that is not: that one is reported
(`rollback_blocked_by`) for an operator to decide, and nothing is dropped.

The smoke profile belongs to the account `smoke@deploy.invalid`, created with a self
profile the first time (audited like the admin commands); each smoke test issues it a
fresh token that expires minutes after the test's timeout and is revoked when the test
ends, pass or fail. A passing smoke document is deleted afterwards (`?hard=true`); a failing one is
kept for inspection.
"""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import httpx
import pikepdf
from alembic import command
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import current_app
from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError

from app.access.accounts import revoke_tokens
from app.access.tokens import issue_token_row
from app.audit import log_audit_event
from app.db import Database
from app.models import Account, UserProfile
from app.ops.migrations import alembic_config, revision_of

SMOKE_EMAIL = "smoke@deploy.invalid"
SMOKE_PROFILE_NAME = "Deploy smoke test"
FAILED_STATUSES = frozenset({"failed", "quarantined", "cancelled", "archived"})
POLL_INTERVAL_S = 0.5
# How long the run's token outlives its timeout, should its revocation fail.
SMOKE_TOKEN_SPARE_S = 300.0
# Errors a migration can end in: Alembic's own, and the database's.
MIGRATION_ERRORS = (CommandError, SQLAlchemyError)
_log = logging.getLogger(__name__)


@dataclass
class SmokeResult:
    ok: bool
    step: str  # where it ended: credentials, upload, processing, done
    detail: str = ""  # an HTTP status and error code, or an exception's class; never content
    shell_file_id: str | None = None
    status: str | None = None
    seconds: float = 0.0


@dataclass
class DeployReport:
    ok: bool = False
    previous_revision: str | None = None
    target_revision: str | None = None
    upgrade_error: str | None = None
    smoke: SmokeResult | None = None
    rolled_back_to: str | None = None
    rollback_blocked_by: str | None = None  # the newest revision not undone: not reversible
    rollback_error: str | None = None
    smoke_after_rollback: SmokeResult | None = None
    steps: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def deploy(
    db: Database,
    database_url: str,
    base_url: str,
    *,
    migrations: Path | None = None,
    timeout: float = 180.0,
) -> DeployReport:
    """Migrate to head and smoke-test `base_url`; on failure roll the schema back.

    `migrations` is the release's Alembic folder (default: this checkout's). Never raises
    for a failed step: the report says what failed, and `ok` is False.
    """
    config = alembic_config(database_url)
    if migrations is not None:
        config.set_main_option("script_location", str(migrations))
    report = DeployReport(previous_revision=revision_of(database_url))
    report.target_revision = ScriptDirectory.from_config(config).get_current_head()
    try:
        command.upgrade(config, "head")
        report.steps.append(f"upgraded {report.previous_revision} -> {report.target_revision}")
    except MIGRATION_ERRORS as exc:
        report.upgrade_error = type(exc).__name__
        report.steps.append("upgrade failed")
    if report.upgrade_error is None:
        report.smoke = smoke_test(db, base_url, timeout=timeout)
        report.steps.append(f"smoke test {'passed' if report.smoke.ok else 'failed'}")
        if report.smoke.ok:
            report.ok = True
            return report
    _roll_back(report, config, database_url)
    if report.rollback_error is None:
        report.smoke_after_rollback = smoke_test(db, base_url, timeout=timeout)
        passed = report.smoke_after_rollback.ok
        report.steps.append(f"smoke test after rollback {'passed' if passed else 'failed'}")
    return report


@dataclass(frozen=True)
class RollbackPlan:
    target: str | None  # the revision to downgrade to (None: undo nothing)
    blocked_by: str | None  # the newest revision that may not be undone, if any
    old_code_runs: bool  # every revision left in place only adds (kind "expand")


def rollback_plan(scripts: ScriptDirectory, current: str, previous: str | None) -> RollbackPlan:
    """How far back towards `previous` the schema may go without losing data.

    Walks the revisions from `current` down to `previous`, undoing each one that declares
    itself `reversible`; stops before the first that does not (a revision that declares
    nothing counts as not reversible)."""
    target: str | None = None
    kept: list[Any] = []
    for script in scripts.iterate_revisions(current, previous or "base"):
        if script.revision == previous:
            break
        if kept or not getattr(script.module, "reversible", False):
            kept.append(script)
            continue
        target = script.down_revision or "base"  # type: ignore[assignment]
    if not kept:
        return RollbackPlan(previous or "base", None, True)
    old_code_runs = all(getattr(s.module, "kind", "contract") == "expand" for s in kept)
    return RollbackPlan(target, kept[0].revision, old_code_runs)


def _roll_back(report: DeployReport, config: Any, database_url: str) -> None:
    """Downgrade towards the revision the deploy started from, as far as is lossless."""
    current = revision_of(database_url)
    if current == report.previous_revision or current is None:
        report.steps.append("schema unchanged: nothing to roll back")
        return
    plan = rollback_plan(ScriptDirectory.from_config(config), current, report.previous_revision)
    if plan.blocked_by is not None:
        report.rollback_blocked_by = plan.blocked_by
        report.steps.append(
            f"revision {plan.blocked_by} is not reversible: its downgrade would lose data, so"
            " the schema stays at or above it"
            + ("; it only adds, so the previous release runs on it" if plan.old_code_runs else "")
        )
    if plan.target is None:
        return
    try:
        command.downgrade(config, plan.target)
    except MIGRATION_ERRORS as exc:
        report.rollback_error = type(exc).__name__
        report.steps.append(f"rollback to {plan.target} failed")
        return
    report.rolled_back_to = plan.target
    report.steps.append(f"rolled back to {plan.target}")


def smoke_test(
    db: Database,
    base_url: str,
    *,
    timeout: float = 180.0,
    credentials: tuple[str, str] | None = None,
) -> SmokeResult:
    """Upload a fresh sample document to the live service and wait for it to complete.

    `credentials` is (token, profile id); without it the smoke account's are used, with
    a token issued for this run (expiring soon after `timeout`) and revoked once it ends.
    """
    started = time.monotonic()
    issued: uuid.UUID | None = None
    try:
        if credentials is None:
            token, profile_id, issued = smoke_credentials(
                db, valid_for=timeout + SMOKE_TOKEN_SPARE_S
            )
        else:
            token, profile_id = credentials
    except SQLAlchemyError as exc:
        return SmokeResult(False, "credentials", type(exc).__name__)
    try:
        result = _smoke(base_url, token, profile_id, started + timeout)
    finally:
        if issued is not None:
            _revoke_smoke_token(db, issued)
    result.seconds = round(time.monotonic() - started, 2)
    return result


def _smoke(base_url: str, token: str, profile_id: str, deadline: float) -> SmokeResult:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30.0) as client:
        result = _upload_and_wait(client, profile_id, deadline)
        if result.ok and result.shell_file_id:
            # Leave no smoke documents behind; a failed delete is not a failed deploy.
            try:
                client.delete(f"/api/v1/shell-files/{result.shell_file_id}?hard=true")
            except httpx.HTTPError:
                result.detail = "smoke document left behind"
    return result


def _revoke_smoke_token(db: Database, token_id: uuid.UUID) -> None:
    """The run's token stops working; if the database refuses, it still expires soon."""
    try:
        with db.session() as session:
            revoke_tokens(session, token_id=token_id)
    except SQLAlchemyError as exc:
        _log.warning("the smoke token was not revoked (%s); it expires soon", type(exc).__name__)


def _upload_and_wait(client: httpx.Client, profile_id: str, deadline: float) -> SmokeResult:
    try:
        response = client.post(
            "/api/v1/shell-files",
            data={"patient_id": profile_id, "priority": "1"},
            files={"file": ("deploy-smoke.pdf", sample_pdf(uuid.uuid4().hex), "application/pdf")},
        )
        if response.status_code != 201:
            return SmokeResult(False, "upload", _http_detail(response))
        shell_file_id = response.json()["shell_file_id"]
        status = "uploaded"
        while time.monotonic() < deadline:
            response = client.get(f"/api/v1/shell-files/{shell_file_id}")
            if response.status_code != 200:
                return SmokeResult(False, "processing", _http_detail(response), shell_file_id)
            status = response.json()["status"]
            if status == "completed":
                return SmokeResult(True, "done", "", shell_file_id, status)
            if status in FAILED_STATUSES:
                return SmokeResult(False, "processing", f"document {status}", shell_file_id, status)
            time.sleep(POLL_INTERVAL_S)
        return SmokeResult(False, "processing", "timed out", shell_file_id, status)
    except httpx.HTTPError as exc:
        return SmokeResult(False, "upload", type(exc).__name__)


def _http_detail(response: httpx.Response) -> str:
    try:
        code = response.json().get("error", {}).get("code", "")
    except ValueError:
        code = ""
    return f"HTTP {response.status_code} {code}".strip()


def smoke_credentials(db: Database, *, valid_for: float) -> tuple[str, str, uuid.UUID]:
    """A fresh token (valid for `valid_for` seconds; its id too, to revoke it by) for the
    smoke account and its self profile, both made if missing. Reads and writes only the
    columns it names, so it works on the schema before a release's expand step too.
    Raises a SQLAlchemy error if the database refuses (a broken schema, say)."""
    with db.session() as session:
        account_id = session.scalar(select(Account.id).where(Account.email == SMOKE_EMAIL))
        if account_id is None:
            account_id = uuid.uuid4()
            session.execute(insert(Account).values(id=account_id, email=SMOKE_EMAIL))
        profile_id = session.scalar(
            select(UserProfile.id).where(
                UserProfile.account_owner_id == account_id,
                UserProfile.profile_type == "self",
                UserProfile.archived.is_(False),
            )
        )
        if profile_id is None:
            profile_id = uuid.uuid4()
            session.add(
                UserProfile(
                    id=profile_id,
                    account_owner_id=account_id,
                    profile_type="self",
                    display_name=SMOKE_PROFILE_NAME,
                )
            )
            log_audit_event(
                session,
                operation="create",
                table_name="user_profiles",
                record_id=profile_id,
                patient_id=profile_id,
                reason="deploy: smoke test profile",
                compliance_category="administration",
            )
        expires_at = datetime.now(UTC) + timedelta(seconds=valid_for)
        row, token = issue_token_row(session, account_id, expires_at=expires_at)
        token_id = row.id
    return token, str(profile_id), token_id


def sample_pdf(nonce: str) -> bytes:
    """A one-page born-digital PDF, different every run (an identical upload would be
    answered as a duplicate of the last one, already completed)."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    lines = [
        f"Deploy smoke test {nonce}",
        "Medications: Paracetamol 500 mg twice daily",
        "Observations: BP 120/80 mmHg",
    ]
    text = "BT /F1 12 Tf 72 770 Td 16 TL " + " ".join(f"({line}) '" for line in lines) + " ET"
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, 595, 842],
        Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
        Contents=pdf.make_stream(text.encode("ascii")),
    )
    pdf.pages.append(pikepdf.Page(page))
    buffer = io.BytesIO()
    pdf.save(buffer)
    return buffer.getvalue()


@click.command("deploy")
@click.option("--base-url", required=True, help="The live service, e.g. http://127.0.0.1:8000")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=180.0,
    show_default=True,
    help="Seconds the smoke document may take to complete.",
)
@click.option(
    "--migrations",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The release's Alembic folder (default: this checkout's migrations/).",
)
def deploy_command(base_url: str, timeout: float, migrations: Path | None) -> None:
    """Migrate to head, smoke-test the live service, roll the schema back if that fails."""
    settings = current_app.config["SETTINGS"]
    report = deploy(
        current_app.extensions["db"],
        settings.migrations_database_url,
        base_url,
        migrations=migrations,
        timeout=timeout,
    )
    click.echo(json.dumps(report.as_json()))
    if not report.ok:
        raise SystemExit(1)
