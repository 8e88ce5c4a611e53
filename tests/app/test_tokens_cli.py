"""Ending API access from the admin CLI: revoked, expired and deactivated tokens answer 401
with a message that says which, and an upload with them leaves nothing behind."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import ApiToken, AuditLog, ShellFile
from tests.app.test_cli import fresh_email, new_profile, run
from tests.support.api import upload
from tests.support.factories import bearer
from tests.support.samples import Samples


@pytest.fixture
def runner(app, db_session: Session) -> FlaskCliRunner:
    return app.test_cli_runner()


def status(client: FlaskClient, token: str) -> tuple[int, str]:
    response = client.get("/api/v1/profiles", headers=bearer(token))
    return response.status_code, (response.json or {}).get("error", {}).get("message", "")


@pytest.mark.parametrize("by", ["--token-id", "--prefix"])
def test_a_revoked_token_answers_401_and_cannot_upload(
    runner, client: FlaskClient, db_session: Session, samples: Samples, by: str
) -> None:
    created = run(runner, "accounts", "create", "--email", fresh_email())
    profile_id = new_profile(runner, created["account_id"])
    spare = run(runner, "tokens", "create", "--account-id", created["account_id"])
    assert status(client, created["token"])[0] == 200

    key = created["token_id"] if by == "--token-id" else created["prefix"]
    revoked = run(runner, "tokens", "revoke", by, key)

    assert revoked["revoked"] == [created["token_id"]]
    assert status(client, created["token"]) == (401, "the bearer token has been revoked")
    before = db_session.scalar(select(func.count()).select_from(ShellFile))
    response = upload(client, created["token"], profile_id, samples.read("letter.pdf"))
    assert response.status_code == 401
    assert db_session.scalar(select(func.count()).select_from(ShellFile)) == before
    assert status(client, spare["token"])[0] == 200  # only that one
    listed = run(runner, "tokens", "list", "--account-id", created["account_id"])["tokens"]
    revoked_now = {t["token_id"]: t["revoked_at"] is not None for t in listed}
    assert revoked_now == {created["token_id"]: True, spare["token_id"]: False}
    assert not any("token" in t for t in listed)  # the secret is shown once, at creation
    reasons = db_session.scalars(select(AuditLog.reason)).all()
    assert "admin: revoke API token" in reasons
    again = runner.invoke(args=["tokens", "revoke", by, key])
    assert again.exit_code != 0 and "no such live token" in again.output


def test_revoke_needs_exactly_one_of_id_or_prefix(runner) -> None:
    assert runner.invoke(args=["tokens", "revoke"]).exit_code != 0
    both = runner.invoke(
        args=["tokens", "revoke", "--prefix", "sfp_x", "--token-id", str(datetime.now().year)]
    )
    assert both.exit_code != 0


def test_tokens_expire_after_expires_in(runner, client: FlaskClient, db_session: Session) -> None:
    created = run(runner, "accounts", "create", "--email", fresh_email(), "--expires-in", "30d")
    second = run(
        runner, "tokens", "create", "--account-id", created["account_id"], "--expires-in", "12h"
    )
    for answer, span in ((created, timedelta(days=30)), (second, timedelta(hours=12))):
        expires = datetime.fromisoformat(answer["expires_at"])
        assert abs(expires - (datetime.now(UTC) + span)) < timedelta(minutes=1)
        assert status(client, answer["token"])[0] == 200

    row = db_session.get(ApiToken, uuid.UUID(second["token_id"]))
    assert row is not None
    row.expires_at = datetime.now(UTC) - timedelta(seconds=1)  # its time has come
    db_session.flush()
    assert status(client, second["token"]) == (401, "the bearer token has expired")
    assert status(client, created["token"])[0] == 200


@pytest.mark.parametrize("span", ["0d", "30", "tomorrow", "-1h", "5y"])
def test_expires_in_refuses_what_is_not_a_span(runner, span: str) -> None:
    result = runner.invoke(
        args=["accounts", "create", "--email", fresh_email(), "--expires-in", span]
    )
    assert result.exit_code == 2 and "90m, 12h, 30d or 2w" in result.output
