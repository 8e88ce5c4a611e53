"""The admin commands, run through Flask's CLI runner against the test app.

With `db_session` active the commands' writes join the test's rolled-back
transaction, so the API sees them at once and nothing outlives the test.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditLog, ProfilePermission
from tests.support.api import upload
from tests.support.factories import bearer
from tests.support.samples import Samples

TOKEN_FIELDS = {"token", "token_id", "prefix", "created_at", "expires_at", "revoked_at"}


@pytest.fixture
def runner(app: Flask, db_session: Session) -> FlaskCliRunner:
    return app.test_cli_runner()


def fresh_email() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}@example.test"


def answer(result: Result) -> dict[str, Any]:
    """The command's one JSON object; the command must have succeeded."""
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    payload = json.loads(result.stdout)
    assert isinstance(payload, dict)
    return payload


def run(runner: FlaskCliRunner, *args: str) -> dict[str, Any]:
    return answer(runner.invoke(args=list(args)))


def new_account(runner: FlaskCliRunner) -> tuple[str, str]:
    created = run(runner, "accounts", "create", "--email", fresh_email())
    return created["account_id"], created["token"]


def new_profile(runner: FlaskCliRunner, owner: str, name: str = "Cli Child") -> str:
    return run(runner, "profiles", "create", "--owner", owner, "--name", name, "--type", "child")[
        "profile_id"
    ]


def profiles_of(client: FlaskClient, token: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/profiles", headers=bearer(token))
    assert response.status_code == 200, response.json
    return response.json["items"]


def shell_files_status(client: FlaskClient, token: str, profile_id: str) -> int:
    return client.get(
        f"/api/v1/profiles/{profile_id}/shell-files", headers=bearer(token)
    ).status_code


def test_accounts_create_prints_an_id_and_a_working_token(runner, client: FlaskClient) -> None:
    result = runner.invoke(args=["accounts", "create", "--email", fresh_email()])

    created = answer(result)
    assert set(created) == {"account_id"} | TOKEN_FIELDS
    assert created["token"].startswith(created["prefix"]) and created["expires_at"] is None
    uuid.UUID(created["account_id"])
    assert created["token"].startswith("sfp_")
    assert client.get("/api/v1/profiles", headers=bearer(created["token"])).status_code == 200


@pytest.mark.parametrize("again", [str.lower, str.upper])
def test_accounts_create_refuses_a_duplicate_email(runner, client: FlaskClient, again) -> None:
    email = fresh_email()
    first = run(runner, "accounts", "create", "--email", email)

    result = runner.invoke(args=["accounts", "create", "--email", again(email)])

    assert result.exit_code != 0
    assert result.stdout == ""
    assert "exists" in result.stderr
    assert client.get("/api/v1/profiles", headers=bearer(first["token"])).status_code == 200


def test_tokens_create_gives_a_second_working_token(runner, client: FlaskClient) -> None:
    account_id, first_token = new_account(runner)

    second = run(runner, "tokens", "create", "--account-id", account_id)

    assert set(second) == TOKEN_FIELDS and second["token"] != first_token
    assert client.get("/api/v1/profiles", headers=bearer(second["token"])).status_code == 200
    assert client.get("/api/v1/profiles", headers=bearer(first_token)).status_code == 200


def test_tokens_create_for_an_unknown_account_fails(runner) -> None:
    result = runner.invoke(args=["tokens", "create", "--account-id", str(uuid.uuid4())])

    assert result.exit_code == 1
    assert result.stdout == ""


def test_profiles_create_is_listed_for_its_owner(
    runner, client: FlaskClient, db_session: Session
) -> None:
    owner, token = new_account(runner)

    created = run(
        runner, "profiles", "create", "--owner", owner, "--name", "Cli Child", "--type", "child"
    )

    assert set(created) == {"profile_id"}
    assert profiles_of(client, token) == [
        {
            "id": created["profile_id"],
            "display_name": "Cli Child",
            "profile_type": "child",
            "archived": False,
            "access": "owner",
        }
    ]
    audit = db_session.scalars(
        select(AuditLog).where(
            AuditLog.patient_id == uuid.UUID(created["profile_id"]), AuditLog.operation == "create"
        )
    ).all()
    assert [row.table_name for row in audit] == ["user_profiles"]


def test_profiles_create_for_an_unknown_owner_fails(runner) -> None:
    result = runner.invoke(
        args=[
            "profiles",
            "create",
            "--owner",
            str(uuid.uuid4()),
            "--name",
            "Nobody's",
            "--type",
            "self",
        ]
    )

    assert result.exit_code == 1
    assert result.stdout == ""


def test_read_only_grant_lets_read_but_not_upload(
    runner, client: FlaskClient, samples: Samples
) -> None:
    owner, _ = new_account(runner)
    profile_id = new_profile(runner, owner)
    grantee, grantee_token = new_account(runner)
    assert shell_files_status(client, grantee_token, profile_id) == 404

    granted = run(
        runner,
        "profiles",
        "grant",
        "--profile",
        profile_id,
        "--account",
        grantee,
        "--level",
        "read_only",
    )

    assert set(granted) == {"permission_id"}
    uuid.UUID(granted["permission_id"])
    assert shell_files_status(client, grantee_token, profile_id) == 200
    refused = upload(client, grantee_token, profile_id, samples.read("letter.pdf"))
    assert refused.status_code == 404
    assert [(p["id"], p["access"]) for p in profiles_of(client, grantee_token)] == [
        (profile_id, "read_only")
    ]


def test_revoke_withdraws_access(runner, client: FlaskClient) -> None:
    owner, _ = new_account(runner)
    profile_id = new_profile(runner, owner)
    grantee, grantee_token = new_account(runner)
    run(
        runner,
        "profiles",
        "grant",
        "--profile",
        profile_id,
        "--account",
        grantee,
        "--level",
        "read_only",
    )
    assert shell_files_status(client, grantee_token, profile_id) == 200

    revoked = run(runner, "profiles", "revoke", "--profile", profile_id, "--account", grantee)

    assert revoked == {"revoked": 1}
    assert shell_files_status(client, grantee_token, profile_id) == 404
    assert profiles_of(client, grantee_token) == []


def test_revoke_without_a_grant_revokes_nothing(runner) -> None:
    owner, _ = new_account(runner)
    profile_id = new_profile(runner, owner)
    stranger, _ = new_account(runner)

    revoked = run(runner, "profiles", "revoke", "--profile", profile_id, "--account", stranger)

    assert revoked == {"revoked": 0}


def test_grant_replaces_the_active_grant(
    runner, client: FlaskClient, db_session: Session, samples: Samples
) -> None:
    owner, _ = new_account(runner)
    profile_id = new_profile(runner, owner)
    grantee, grantee_token = new_account(runner)
    run(
        runner,
        "profiles",
        "grant",
        "--profile",
        profile_id,
        "--account",
        grantee,
        "--level",
        "read_only",
    )

    run(
        runner,
        "profiles",
        "grant",
        "--profile",
        profile_id,
        "--account",
        grantee,
        "--level",
        "read_write",
    )

    active = db_session.scalars(
        select(ProfilePermission.permission_level).where(
            ProfilePermission.profile_id == uuid.UUID(profile_id),
            ProfilePermission.revoked_at.is_(None),
        )
    ).all()
    assert active == ["read_write"]
    assert upload(client, grantee_token, profile_id, samples.read("letter.pdf")).status_code == 201
    assert run(runner, "profiles", "revoke", "--profile", profile_id, "--account", grantee) == {
        "revoked": 1
    }


@pytest.mark.parametrize(("expires_at", "status"), [("2000-01-01", 404), ("2999-01-01", 200)])
def test_grant_with_an_expiry(runner, client: FlaskClient, expires_at: str, status: int) -> None:
    owner, _ = new_account(runner)
    profile_id = new_profile(runner, owner)
    grantee, grantee_token = new_account(runner)

    run(
        runner,
        "profiles",
        "grant",
        "--profile",
        profile_id,
        "--account",
        grantee,
        "--level",
        "full_access",
        "--expires-at",
        expires_at,
    )

    assert shell_files_status(client, grantee_token, profile_id) == status


@pytest.mark.parametrize(
    "args",
    [
        ["profiles", "create", "--owner", "{owner}", "--name", "N", "--type", "alien"],
        ["profiles", "create", "--owner", "{owner}", "--name", "N", "--type", "Child"],
        ["profiles", "grant", "--profile", "{profile}", "--account", "{owner}", "--level", "admin"],
        ["profiles", "grant", "--profile", "{profile}", "--account", "{owner}", "--level", "owner"],
        ["tokens", "create", "--account-id", "not-a-uuid"],
    ],
    ids=["type-alien", "type-case", "level-admin", "level-owner", "account-id-not-uuid"],
)
def test_invalid_choices_are_rejected_by_click(
    runner, db_session: Session, args: list[str]
) -> None:
    owner, _ = new_account(runner)
    profile_id = new_profile(runner, owner)
    permissions_before = db_session.scalars(select(ProfilePermission.id)).all()

    result = runner.invoke(args=[a.format(owner=owner, profile=profile_id) for a in args])

    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert db_session.scalars(select(ProfilePermission.id)).all() == permissions_before
