"""Admin commands for who may sign in: `flask --app app accounts|tokens …`.

Each prints one JSON object. Ending access is audited: a new password or deactivation
ends the account's web sessions everywhere; a revoked or expired token answers 401.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import click
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.access import accounts as access
from app.access.tokens import issue_token_row
from app.audit import log_audit_event
from app.db import get_db
from app.models import Account, ApiToken

accounts = AppGroup("accounts", help="Accounts that sign in.")
tokens = AppGroup("tokens", help="API tokens.")

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class Duration(click.ParamType):
    """A span such as `90m`, `12h`, `30d` or `2w`."""

    name = "duration"

    def convert(self, value: Any, param: Any, ctx: Any) -> timedelta:
        if isinstance(value, timedelta):
            return value
        match = _DURATION.match(str(value).strip().lower())
        if not match or int(match.group(1)) == 0:
            self.fail("give a positive span such as 90m, 12h, 30d or 2w", param, ctx)
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


EXPIRES_IN = click.option(
    "--expires-in",
    type=Duration(),
    default=None,
    help="The token stops working after this span (90m, 12h, 30d, 2w); default never.",
)


def emit(payload: dict[str, Any]) -> None:
    click.echo(json.dumps(payload, default=str))


def fail(message: str) -> NoReturn:
    raise click.ClickException(message)


def _token_json(row: ApiToken, token: str | None = None) -> dict[str, Any]:
    shown = {"token": token} if token else {}
    return shown | {
        "token_id": row.id,
        "prefix": row.token_prefix,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "revoked_at": row.revoked_at,
    }


def _expiry(expires_in: timedelta | None) -> datetime | None:
    return datetime.now(UTC) + expires_in if expires_in else None


def _account(session: Any, email: str) -> Account:
    account = session.scalar(select(Account).where(Account.email == email.strip().lower()))
    if account is None:
        fail("no such account")
    return account


def _audit(session: Any, account_id: uuid.UUID, reason: str) -> None:
    log_audit_event(
        session,
        operation="update",
        table_name="accounts",
        record_id=account_id,
        patient_id=None,
        reason=reason,
        compliance_category="administration",
    )


@accounts.command("create")
@click.option("--email", required=True)
@EXPIRES_IN
def create_account(email: str, expires_in: timedelta | None) -> None:
    """Create an account and its first API token."""
    with get_db().session() as session:
        account = Account(id=uuid.uuid4(), email=email.strip().lower())
        session.add(account)
        try:
            session.flush()
        except IntegrityError:
            fail("an account with that email exists")
        row, token = issue_token_row(session, account.id, expires_at=_expiry(expires_in))
        session.flush()
        created = {"account_id": account.id, **_token_json(row, token)}
    emit(created)


@accounts.command("set-password")
@click.option("--email", required=True)
@click.password_option(
    "--password", prompt="Password", help="Read from stdin or a prompt when not given."
)
def set_password(email: str, password: str) -> None:
    """Set the password an account signs in to the web app with (Argon2id hash); its
    web sessions end everywhere."""
    from app.access.passwords import WeakPassword, hash_password

    try:
        password_hash = hash_password(password)
    except WeakPassword as weak:
        fail(str(weak))
    with get_db().session() as session:
        account = _account(session, email)
        access.set_password(session, account, password_hash)
        _audit(session, account.id, "admin: set password")
    emit({"account_id": account.id, "password_set": True})


@accounts.command("deactivate")
@click.option("--email", required=True)
def deactivate_account(email: str) -> None:
    """Turn an account off: its sign-in, web sessions and API tokens stop working."""
    with get_db().session() as session:
        account = _account(session, email)
        access.deactivate(session, account)
        _audit(session, account.id, "admin: deactivate account")
        deactivated = {"account_id": account.id, "deactivated_at": account.deactivated_at}
    emit(deactivated)


@tokens.command("create")
@click.option("--account-id", required=True, type=click.UUID)
@EXPIRES_IN
def create_token(account_id: uuid.UUID, expires_in: timedelta | None) -> None:
    """Issue another API token for an account."""
    with get_db().session() as session:
        if session.get(Account, account_id) is None:
            fail("no such account")
        row, token = issue_token_row(session, account_id, expires_at=_expiry(expires_in))
        session.flush()
        created = _token_json(row, token)
    emit(created)


@tokens.command("list")
@click.option("--account-id", required=True, type=click.UUID)
def list_tokens(account_id: uuid.UUID) -> None:
    """An account's tokens: id, prefix, when made, when they expire or were revoked."""
    with get_db().session() as session:
        rows = session.scalars(
            select(ApiToken).where(ApiToken.account_id == account_id).order_by(ApiToken.created_at)
        )
        listed = [_token_json(row) for row in rows]
    emit({"tokens": listed})


@tokens.command("revoke")
@click.option("--token-id", type=click.UUID, default=None)
@click.option("--prefix", default=None, help="The token's first 12 characters (sfp_…).")
def revoke_token(token_id: uuid.UUID | None, prefix: str | None) -> None:
    """Revoke a token by its id or prefix: it answers 401 from now on."""
    if (token_id is None) == (prefix is None):
        fail("give --token-id or --prefix")
    with get_db().session() as session:
        revoked = access.revoke_tokens(session, token_id=token_id, prefix=prefix)
        if not revoked:
            fail("no such live token")
        for row in revoked:
            _audit(session, row.account_id, "admin: revoke API token")
        ids = [row.id for row in revoked]
    emit({"revoked": ids})
