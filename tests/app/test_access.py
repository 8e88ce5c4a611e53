"""Who may reach what: every endpoint against every kind of caller.

Owning a profile or holding a live grant lets a caller read it; uploading needs
read_write or above. Everything else looks exactly like a profile or shell file
that does not exist (404, nothing of it in the body), or a missing login (401).
Every answered read leaves one audit row; a refused request leaves none.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from app.models import Account, ApiToken, AuditLog, UserProfile
from tests.support.api import upload
from tests.support.factories import bearer, grant, make_account, make_profile
from tests.support.samples import Samples

SECRET_FILENAME = "zeta-confidential-report.txt"
SECRET_NAME = "Zeta Matrixpatient"

ENDPOINTS = ("upload", "shell_file", "errors", "content", "profile_shell_files", "profiles")
SHELL_FILE_ENDPOINTS = ("shell_file", "errors", "content")
VALID_GRANTS = ("read_only", "read_write", "full_access")
CALLERS = ("owner", *VALID_GRANTS, "revoked", "expired", "stranger", "no_token", "bad_token")
REACHES_PROFILE = ("owner", *VALID_GRANTS)

READ = {
    "owner": 200,
    "read_only": 200,
    "read_write": 200,
    "full_access": 200,
    "revoked": 404,
    "expired": 404,
    "stranger": 404,
    "no_token": 401,
    "bad_token": 401,
}
WRITE = {
    "owner": 201,
    "read_only": 404,
    "read_write": 201,
    "full_access": 201,
    "revoked": 404,
    "expired": 404,
    "stranger": 404,
    "no_token": 401,
    "bad_token": 401,
}
# Listing profiles reaches no profile in particular: every signed-in caller gets a list.
LIST = {
    "owner": 200,
    "read_only": 200,
    "read_write": 200,
    "full_access": 200,
    "revoked": 200,
    "expired": 200,
    "stranger": 200,
    "no_token": 401,
    "bad_token": 401,
}
EXPECTED = {
    "upload": WRITE,
    "shell_file": READ,
    "errors": READ,
    "content": READ,
    "profile_shell_files": READ,
    "profiles": LIST,
}
MATRIX = [
    pytest.param(endpoint, caller, EXPECTED[endpoint][caller], id=f"{endpoint}-{caller}")
    for endpoint in ENDPOINTS
    for caller in CALLERS
]


@dataclass
class World:
    """One owner's profile with one document, and a caller of every kind."""

    profile: UserProfile
    shell_file_id: str
    content: bytes
    accounts: dict[str, Account | None]
    tokens: dict[str, str | None]

    def headers(self, caller: str) -> dict[str, str]:
        if caller == "no_token":
            return {}
        if caller == "bad_token":
            return bearer("sfp_" + "x" * 43)
        token = self.tokens[caller]
        assert token is not None
        return bearer(token)

    def secrets(self) -> list[str]:
        """Everything about the profile and its document a refused caller must not see."""
        profile_id = self.profile.id
        shell_file_id = uuid.UUID(self.shell_file_id)
        return [
            str(profile_id),
            profile_id.hex,
            str(shell_file_id),
            shell_file_id.hex,
            SECRET_FILENAME,
            SECRET_NAME,
        ]


@pytest.fixture
def world(client: FlaskClient, db_session: Session, samples: Samples) -> World:
    owner, owner_token = make_account(db_session)
    profile = make_profile(db_session, owner, name=SECRET_NAME)
    content = samples.read("note.txt")
    uploaded = upload(client, owner_token, profile.id, content, name=SECRET_FILENAME)
    assert uploaded.status_code == 201, uploaded.json

    accounts: dict[str, Account | None] = {"owner": owner}
    tokens: dict[str, str | None] = {"owner": owner_token}
    past = datetime.now(UTC) - timedelta(hours=1)
    for caller in (*VALID_GRANTS, "revoked", "expired", "stranger"):
        accounts[caller], tokens[caller] = make_account(db_session)
    for level in VALID_GRANTS:
        grant(db_session, profile, accounts[level], level)
    # The strongest levels, so that only revocation or expiry can explain a refusal.
    grant(db_session, profile, accounts["revoked"], "full_access", revoked_at=past)
    grant(db_session, profile, accounts["expired"], "full_access", expires_at=past)
    # The stranger has a profile of their own, so their list is not empty.
    make_profile(db_session, accounts["stranger"], name="Stranger Self")
    accounts["no_token"] = accounts["bad_token"] = None
    tokens["no_token"] = tokens["bad_token"] = None
    return World(profile, uploaded.json["shell_file_id"], content, accounts, tokens)


def post_upload(client: FlaskClient, headers: dict[str, str], patient_id: object) -> TestResponse:
    """An upload of fresh bytes (never a duplicate), with exactly the given headers."""
    data = f"Access matrix note {uuid.uuid4()}\n".encode()
    boundary, body = encode_multipart(
        {
            "patient_id": str(patient_id),
            "file": FileStorage(io.BytesIO(data), filename="matrix-upload.txt"),
        }
    )
    return client.post(
        "/api/v1/shell-files",
        data=body,
        headers=headers,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def call(
    client: FlaskClient,
    world: World,
    endpoint: str,
    headers: dict[str, str],
    *,
    shell_file_id: str | None = None,
    profile_id: object = None,
) -> TestResponse:
    sf_id = shell_file_id or world.shell_file_id
    pid = profile_id or world.profile.id
    if endpoint == "upload":
        return post_upload(client, headers, pid)
    return client.get(call_path(world, endpoint, sf_id, pid), headers=headers)


def call_path(
    world: World, endpoint: str, shell_file_id: str | None = None, profile_id: object = None
) -> str:
    sf_id = shell_file_id or world.shell_file_id
    pid = profile_id or world.profile.id
    return {
        "shell_file": f"/api/v1/shell-files/{sf_id}",
        "errors": f"/api/v1/shell-files/{sf_id}/errors",
        "content": f"/api/v1/shell-files/{sf_id}/content",
        "profile_shell_files": f"/api/v1/profiles/{pid}/shell-files",
        "profiles": "/api/v1/profiles",
    }[endpoint]


def last_audit_id(session: Session) -> int:
    return session.scalar(select(func.coalesce(func.max(AuditLog.id), 0))) or 0


def audit_since(session: Session, after: int, patient_id: uuid.UUID) -> list[tuple]:
    rows = session.scalars(
        select(AuditLog)
        .where(AuditLog.id > after, AuditLog.patient_id == patient_id)
        .order_by(AuditLog.id)
    ).all()
    return [(row.operation, row.account_id, row.patient_id) for row in rows]


def request_ids_since(session: Session, after: int, patient_id: uuid.UUID) -> list[str | None]:
    return list(
        session.scalars(
            select(AuditLog.request_id)
            .where(AuditLog.id > after, AuditLog.patient_id == patient_id)
            .order_by(AuditLog.id)
        )
    )


def listed_ids(response: TestResponse) -> list[str]:
    return [item["id"] for item in response.json["items"]]


def assert_leaks_nothing(response: TestResponse, world: World) -> None:
    text = response.get_data(as_text=True)
    for secret in world.secrets():
        assert secret not in text, f"the refusal reveals {secret!r}: {text}"


@pytest.mark.parametrize(("endpoint", "caller", "expected"), MATRIX)
def test_access_matrix(
    client: FlaskClient,
    db_session: Session,
    world: World,
    endpoint: str,
    caller: str,
    expected: int,
) -> None:
    before = last_audit_id(db_session)

    response = call(client, world, endpoint, world.headers(caller))

    assert response.status_code == expected, response.get_data(as_text=True)
    reached = expected in (200, 201) and (endpoint != "profiles" or caller in REACHES_PROFILE)
    audit = audit_since(db_session, before, world.profile.id)
    if reached:
        operation = "create" if endpoint == "upload" else "read"
        assert audit == [(operation, world.accounts[caller].id, world.profile.id)]
        assert request_ids_since(db_session, before, world.profile.id) == [
            response.headers["X-Request-ID"]
        ]
    else:
        assert audit == []
        assert_leaks_nothing(response, world)
    if expected == 401:
        assert response.json["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    if expected == 404:
        assert response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("caller", REACHES_PROFILE)
def test_reachable_bodies_describe_the_profile_and_document(
    client: FlaskClient, world: World, caller: str
) -> None:
    headers = world.headers(caller)

    document = call(client, world, "shell_file", headers)
    errors = call(client, world, "errors", headers)
    content = call(client, world, "content", headers)
    page = call(client, world, "profile_shell_files", headers)
    profiles = call(client, world, "profiles", headers)

    assert document.json["id"] == world.shell_file_id
    assert document.json["patient_id"] == str(world.profile.id)
    assert errors.json == {"shell_file_id": world.shell_file_id, "items": []}
    assert content.data == world.content
    assert [item["id"] for item in page.json["items"]] == [world.shell_file_id]
    mine = [item for item in profiles.json["items"] if item["id"] == str(world.profile.id)]
    assert [item["access"] for item in mine] == ["owner" if caller == "owner" else caller]


@pytest.mark.parametrize("caller", ["revoked", "expired", "stranger"])
def test_profile_list_omits_profiles_the_caller_cannot_reach(
    client: FlaskClient, world: World, caller: str
) -> None:
    response = call(client, world, "profiles", world.headers(caller))

    assert response.status_code == 200
    assert str(world.profile.id) not in listed_ids(response)
    assert_leaks_nothing(response, world)


def test_stranger_sees_only_their_own_profile(client: FlaskClient, world: World) -> None:
    response = call(client, world, "profiles", world.headers("stranger"))

    assert [item["display_name"] for item in response.json["items"]] == ["Stranger Self"]
    assert [item["access"] for item in response.json["items"]] == ["owner"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_grant_expiring_in_the_future_works(
    client: FlaskClient, db_session: Session, world: World, endpoint: str
) -> None:
    account, token = make_account(db_session)
    grant(
        db_session,
        world.profile,
        account,
        "read_write",
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    before = last_audit_id(db_session)

    response = call(client, world, endpoint, bearer(token))

    assert response.status_code == (201 if endpoint == "upload" else 200), response.json
    operation = "create" if endpoint == "upload" else "read"
    assert audit_since(db_session, before, world.profile.id) == [
        (operation, account.id, world.profile.id)
    ]
    if endpoint == "profiles":
        assert str(world.profile.id) in listed_ids(response)


@pytest.mark.parametrize("endpoint", SHELL_FILE_ENDPOINTS)
def test_malformed_shell_file_id_is_404(client: FlaskClient, world: World, endpoint: str) -> None:
    response = call(client, world, endpoint, world.headers("owner"), shell_file_id="not-a-uuid")

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_malformed_profile_id_is_404(client: FlaskClient, world: World) -> None:
    response = call(
        client, world, "profile_shell_files", world.headers("owner"), profile_id="not-a-uuid"
    )

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("endpoint", SHELL_FILE_ENDPOINTS)
def test_unknown_shell_file_looks_like_a_foreign_one(
    client: FlaskClient, world: World, endpoint: str
) -> None:
    headers = world.headers("stranger")

    foreign = call(client, world, endpoint, headers)
    unknown = call(client, world, endpoint, headers, shell_file_id=str(uuid.uuid4()))

    assert (foreign.status_code, unknown.status_code) == (404, 404)
    assert unknown.json == foreign.json


@pytest.mark.parametrize("endpoint", ["profile_shell_files", "upload"])
def test_unknown_profile_looks_like_a_foreign_one(
    client: FlaskClient, world: World, endpoint: str
) -> None:
    headers = world.headers("stranger")

    foreign = call(client, world, endpoint, headers)
    unknown = call(client, world, endpoint, headers, profile_id=uuid.uuid4())

    assert (foreign.status_code, unknown.status_code) == (404, 404)
    assert unknown.json == foreign.json


def test_read_only_grantee_cannot_upload_and_leaves_nothing(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    before = last_audit_id(db_session)
    response = call(client, world, "upload", world.headers("read_only"))
    page = call(client, world, "profile_shell_files", world.headers("owner"))

    assert response.status_code == 404
    assert [item["id"] for item in page.json["items"]] == [world.shell_file_id]
    assert [op for op, _, _ in audit_since(db_session, before, world.profile.id)] == ["read"]


def _spoil_token(session: Session, account: Account, state: str) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    if state == "inactive_account":
        account.is_active = False
    else:
        for token in session.scalars(select(ApiToken).where(ApiToken.account_id == account.id)):
            setattr(token, "revoked_at" if state == "revoked_token" else "expires_at", past)
    session.flush()


@pytest.mark.parametrize("state", ["revoked_token", "expired_token", "inactive_account"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_dead_credentials_are_401_even_for_the_owner(
    client: FlaskClient, db_session: Session, world: World, endpoint: str, state: str
) -> None:
    headers = world.headers("owner")
    _spoil_token(db_session, world.accounts["owner"], state)
    before = last_audit_id(db_session)

    response = call(client, world, endpoint, headers)

    assert response.status_code == 401, response.get_data(as_text=True)
    assert audit_since(db_session, before, world.profile.id) == []
    assert_leaks_nothing(response, world)


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e != "upload"])
def test_a_read_that_cannot_be_audited_returns_no_data(
    client: FlaskClient, db_session: Session, world: World, endpoint: str
) -> None:
    """Fail closed: an address too long for audit_log.client_address makes the audit
    insert fail, and the reader gets 503 instead of unaudited data."""
    before = last_audit_id(db_session)

    response = client.get(
        call_path(world, endpoint),
        headers=world.headers("owner"),
        environ_base={"REMOTE_ADDR": "9" * 80},
    )

    assert response.status_code == 503
    assert response.json["error"]["code"] == "audit_unavailable"
    assert audit_since(db_session, before, world.profile.id) == []
    assert_leaks_nothing(response, world)
    assert world.content not in response.data
