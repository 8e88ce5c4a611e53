"""Who may reach what: every API operation against every kind of caller.

The operations are listed once (`OPERATIONS`) and checked against the app's URL map,
so a new endpoint without a row here fails `test_every_api_route_is_in_the_matrix`.
The callers are the profile's owner, a grantee at each level, a grantee whose grant
was revoked, one whose grant expired (both at full_access, so only revocation or
expiry explains a refusal), a stranger with a profile of their own, no token and a
made-up token.

The rules checked for every cell:
- the status: the operation's success status when the caller reaches the profile
  at the level it needs; otherwise 404, exactly as for an id that does not exist
  (same body as for a random id); 401 with no or a bad token; the description is public;
- a refused caller learns nothing: no id, name, filename, hash or bytes of the
  target in the body;
- no answer ever carries anything of a neighbouring profile the caller cannot reach;
- audit: an answered read or write of patient data leaves exactly one audit row
  (the caller, the patient, the operation, the request id); listing profiles leaves
  one per profile listed; a refused request and the public description leave none.
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from app.models import (
    PERMISSION_LEVELS,
    Account,
    ApiToken,
    AuditLog,
    BlobChunk,
    ClinicalEntity,
    Job,
    OcrPage,
    ShellFile,
    UserProfile,
)
from tests.support.api import upload
from tests.support.factories import bearer, grant, make_account, make_profile
from tests.support.processed import process_in_place
from tests.support.samples import CLINICAL_LETTER, text_pdf

SECRET_FILENAME = "zeta-confidential-report.pdf"
SECRET_NAME = "Zeta Matrixpatient"
NEIGHBOUR_NAME = "Quokka Neighbourpatient"
NEIGHBOUR_FILENAME = "quokka-private-letter.pdf"
NEIGHBOUR_MARKER = "Quokkamarker"

GRANTS = ("read_only", "read_write", "full_access")
ROLES = ("owner", *GRANTS, "revoked", "expired", "stranger", "no_token", "bad_token")
IGNORED_METHODS = {"HEAD", "OPTIONS"}  # Flask derives these from every rule itself


@dataclass(frozen=True)
class Operation:
    """One API operation as the matrix calls it.

    `level`: the grant it needs (None: any signed-in caller, "public": anyone).
    `audit`: the audit operation an answered call records (None: it reads no patient data).
    `state`: the document's status before the call (reprocess needs a finished one,
    cancel a running one).
    """

    name: str
    endpoint: str  # the view's name in the api blueprint
    method: str
    path: str
    ok: int
    level: str | None
    audit: str | None
    state: str = "completed"
    json: dict[str, str] | None = None


SF = "/shell-files/{sf}"
RO, RW, FULL = "read_only", "read_write", "full_access"
OPERATIONS = (
    Operation("upload", "upload_shell_file", "POST", "/shell-files", 201, RW, "create"),
    Operation("status", "get_shell_file", "GET", SF, 200, RO, "read"),
    Operation("errors", "list_shell_file_errors", "GET", SF + "/errors", 200, RO, "read"),
    Operation("content", "get_shell_file_content", "GET", SF + "/content", 200, RO, "read"),
    Operation("pages", "list_pages", "GET", SF + "/pages", 200, RO, "read"),
    Operation("page", "get_page", "GET", SF + "/pages/1", 200, RO, "read"),
    Operation("entities", "list_entities", "GET", SF + "/entities", 200, RO, "read"),
    Operation("records", "list_clinical_records", "GET", SF + "/clinical-records", 200, RO, "read"),
    Operation("narrative", "get_narrative", "GET", SF + "/narrative", 200, RO, "read"),
    Operation("fhir", "get_fhir_bundle", "GET", SF + "/fhir", 200, RO, "read"),
    Operation("record", "get_record", "GET", "/profiles/{pid}/record", 200, RO, "read"),
    Operation(
        "record_medications", "get_record_medications", "GET",
        "/profiles/{pid}/record/medications", 200, RO, "read",
    ),
    Operation(
        "record_series", "get_record_observation", "GET",
        "/profiles/{pid}/record/observations?code=718-7", 200, RO, "read",
    ),
    Operation("record_fhir", "get_record_fhir", "GET", "/profiles/{pid}/fhir", 200, RO, "read"),
    Operation(
        "reprocess", "reprocess_shell_file", "POST", SF + "/reprocess", 202, RW, "update",
        json={"from_stage": "pass1"},
    ),
    Operation(
        "cancel", "cancel_shell_file", "POST", SF + "/cancel", 200, RW, "update",
        state="processing",
    ),
    Operation("archive", "delete_shell_file", "DELETE", SF, 200, RW, "update"),
    Operation("hard_delete", "delete_shell_file", "DELETE", SF + "?hard=true", 204, FULL, "delete"),
    Operation("profiles", "list_profiles", "GET", "/profiles", 200, None, "read"),
    Operation(
        "profile_documents", "list_profile_shell_files", "GET", "/profiles/{pid}/shell-files",
        200, RO, "read",
    ),
    Operation(
        "search", "search_profile", "GET", "/profiles/{pid}/search?q=metformin+OR+quokkamarker",
        200, RO, "read",
    ),
    Operation("openapi", "openapi", "GET", "/openapi.json", 200, "public", None),
)  # fmt: skip
BY_NAME = {operation.name: operation for operation in OPERATIONS}
DOCUMENT_OPERATIONS = [op for op in OPERATIONS if "{sf}" in op.path]
PATIENT_DATA_OPERATIONS = [op for op in OPERATIONS if op.audit is not None]


def reaches(role: str, level: str) -> bool:
    if role == "owner":
        return True
    return role in GRANTS and PERMISSION_LEVELS.index(role) >= PERMISSION_LEVELS.index(level)


def expected_status(operation: Operation, role: str) -> int:
    if operation.level == "public":
        return operation.ok
    if role in ("no_token", "bad_token"):
        return 401
    if operation.level is None or reaches(role, operation.level):
        return operation.ok
    return 404


MATRIX = [
    pytest.param(operation, role, id=f"{operation.name}-{role}")
    for operation in OPERATIONS
    for role in ROLES
]


@dataclass
class World:
    """An owner's profile with one processed document, a caller of every kind, and a
    neighbouring profile (with its own processed document) that no caller reaches."""

    profile: UserProfile
    shell_file_id: uuid.UUID
    content: bytes
    sha256: str
    accounts: dict[str, Account]
    tokens: dict[str, str]
    neighbour_secrets: list[str] = field(default_factory=list)

    def headers(self, role: str) -> dict[str, str]:
        if role == "no_token":
            return {}
        if role == "bad_token":
            return bearer("sfp_" + "x" * 43)
        return bearer(self.tokens[role])

    def secrets(self) -> list[str]:
        """What a refused caller must not learn about the profile and its document."""
        return [
            str(self.profile.id),
            self.profile.id.hex,
            str(self.shell_file_id),
            self.shell_file_id.hex,
            self.sha256,
            SECRET_FILENAME,
            SECRET_NAME,
        ]


def _upload_and_process(
    app: Flask, client: FlaskClient, session: Session, token: str, profile: UserProfile,
    data: bytes, name: str,
) -> tuple[uuid.UUID, str]:  # fmt: skip
    response = upload(client, token, profile.id, data, name=name)
    assert response.status_code == 201, response.json
    shell_file = process_in_place(app, session, uuid.UUID(response.json["shell_file_id"]))
    return shell_file.id, shell_file.sha256


@pytest.fixture
def world(app: Flask, client: FlaskClient, db_session: Session) -> World:
    owner, owner_token = make_account(db_session)
    profile = make_profile(db_session, owner, name=SECRET_NAME)
    content = text_pdf(CLINICAL_LETTER)
    sf_id, sha256 = _upload_and_process(
        app, client, db_session, owner_token, profile, content, SECRET_FILENAME
    )

    accounts = {"owner": owner}
    tokens = {"owner": owner_token}
    past = datetime.now(UTC) - timedelta(hours=1)
    for role in (*GRANTS, "revoked", "expired", "stranger"):
        accounts[role], tokens[role] = make_account(db_session)
    for level in GRANTS:
        grant(db_session, profile, accounts[level], level)
    grant(db_session, profile, accounts["revoked"], "full_access", revoked_at=past)
    grant(db_session, profile, accounts["expired"], "full_access", expires_at=past)
    make_profile(db_session, accounts["stranger"], name="Stranger Self")

    neighbour_owner, neighbour_token = make_account(db_session)
    neighbour = make_profile(db_session, neighbour_owner, name=NEIGHBOUR_NAME)
    neighbour_data = text_pdf([f"{NEIGHBOUR_MARKER} clinic letter", *CLINICAL_LETTER])
    n_id, n_sha = _upload_and_process(
        app, client, db_session, neighbour_token, neighbour, neighbour_data, NEIGHBOUR_FILENAME
    )
    return World(
        profile,
        sf_id,
        content,
        sha256,
        accounts,
        tokens,
        [str(neighbour.id), str(n_id), n_sha, NEIGHBOUR_NAME, NEIGHBOUR_FILENAME, NEIGHBOUR_MARKER],
    )


def put_in_state(session: Session, shell_file_id: uuid.UUID, status: str) -> None:
    shell_file = session.get(ShellFile, shell_file_id)
    assert shell_file is not None
    shell_file.status = status
    session.flush()


def fresh_upload_body(patient_id: object) -> tuple[bytes, str]:
    """A multipart upload of bytes never seen before (so never a duplicate)."""
    data = f"Access matrix note {uuid.uuid4()}\n".encode()
    boundary, body = encode_multipart(
        {
            "patient_id": str(patient_id),
            "file": FileStorage(io.BytesIO(data), filename="matrix-upload.txt"),
        }
    )
    return body, f"multipart/form-data; boundary={boundary}"


def call(
    client: FlaskClient,
    operation: Operation,
    headers: dict[str, str],
    *,
    shell_file_id: object,
    profile_id: object,
    **environ: str,
) -> TestResponse:
    url = "/api/v1" + operation.path.format(sf=shell_file_id, pid=profile_id)
    options: dict[str, object] = {"headers": headers}
    if environ:
        options["environ_base"] = environ
    if operation.name == "upload":
        options["data"], options["content_type"] = fresh_upload_body(profile_id)
    elif operation.json is not None:
        options["data"], options["content_type"] = json.dumps(operation.json), "application/json"
    return client.open(url, method=operation.method, **options)


def call_on_world(
    client: FlaskClient, world: World, operation: Operation, role: str, **environ: str
) -> TestResponse:
    return call(
        client,
        operation,
        world.headers(role),
        shell_file_id=world.shell_file_id,
        profile_id=world.profile.id,
        **environ,
    )


def last_audit_id(session: Session) -> int:
    return session.scalar(select(func.coalesce(func.max(AuditLog.id), 0))) or 0


def audit_rows_since(session: Session, after: int) -> list[AuditLog]:
    return list(session.scalars(select(AuditLog).where(AuditLog.id > after).order_by(AuditLog.id)))


def body_text(response: TestResponse) -> str:
    return response.get_data().decode("utf-8", "replace")


def assert_leaks_nothing(
    response: TestResponse, secrets: list[str], content: bytes | None = None
) -> None:
    text = body_text(response)
    for secret in secrets:
        assert secret not in text, f"the answer reveals {secret!r}"
    if content is not None:
        assert content not in response.data


def test_every_api_route_is_in_the_matrix(app: Flask) -> None:
    routes = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        for method in (rule.methods or set()) - IGNORED_METHODS
    }
    covered = {(f"api.{operation.endpoint}", operation.method) for operation in OPERATIONS}

    assert routes, "the API blueprint has no routes"
    assert routes - covered == set(), "API routes with no row in the access matrix"
    assert covered - routes == set(), "matrix rows for routes the app does not have"


@pytest.mark.parametrize(("operation", "role"), MATRIX)
def test_access_matrix(
    client: FlaskClient, db_session: Session, world: World, operation: Operation, role: str
) -> None:
    put_in_state(db_session, world.shell_file_id, operation.state)
    expected = expected_status(operation, role)
    before = last_audit_id(db_session)

    response = call_on_world(client, world, operation, role)

    assert response.status_code == expected, body_text(response)
    audit = audit_rows_since(db_session, before)
    assert_leaks_nothing(response, world.neighbour_secrets)
    if expected == operation.ok:
        assert_audited_once(audit, operation, role, world, response)
    else:
        assert audit == [], "a refused request left audit rows"
        assert_leaks_nothing(response, world.secrets(), world.content)
        twin = call(
            client,
            operation,
            world.headers(role),
            shell_file_id=uuid.uuid4(),
            profile_id=uuid.uuid4(),
        )
        assert (twin.status_code, twin.json) == (response.status_code, response.json), (
            "a refusal must look exactly like an id that does not exist"
        )
    if expected == 401:
        assert response.json["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    if expected == 404:
        assert response.json["error"]["code"] == "not_found"


def assert_audited_once(
    audit: list[AuditLog], operation: Operation, role: str, world: World, response: TestResponse
) -> None:
    if operation.audit is None:
        assert audit == [], f"{operation.name} reads no patient data, yet left audit rows"
        return
    account_id = world.accounts[role].id
    assert {(row.account_id, row.request_id) for row in audit} <= {
        (account_id, response.headers["X-Request-ID"])
    }
    if operation.name == "profiles":
        listed = [uuid.UUID(item["id"]) for item in response.json["items"]]
        assert sorted(str(row.patient_id) for row in audit) == sorted(map(str, listed))
        assert all(row.operation == "read" for row in audit)
        reached = world.profile.id in listed
        assert reached == (role in ("owner", *GRANTS))
        if not reached:
            assert_leaks_nothing(response, world.secrets(), world.content)
        return
    assert [(row.operation, row.patient_id) for row in audit] == [
        (operation.audit, world.profile.id)
    ], f"{operation.name} must leave exactly one audit row"


@pytest.mark.parametrize("role", ["owner", *GRANTS])
def test_reachable_answers_describe_the_profile_and_its_document(
    client: FlaskClient, world: World, role: str
) -> None:
    def get(name: str) -> TestResponse:
        response = call_on_world(client, world, BY_NAME[name], role)
        assert response.status_code == 200, (name, body_text(response))
        return response

    sf_id, pid = str(world.shell_file_id), str(world.profile.id)
    assert (get("status").json["id"], get("status").json["patient_id"]) == (sf_id, pid)
    assert get("errors").json == {"shell_file_id": sf_id, "items": []}
    assert get("content").data == world.content
    pages = get("pages").json
    assert (pages["page_count"], [p["page_number"] for p in pages["items"]]) == (1, [1])
    assert "Metformin" in get("page").json["text"]
    assert {e["type"] for e in get("entities").json["items"]} >= {"medication", "lab_result"}
    records = get("records").json["items"]
    assert "medication" in {record["type"] for record in records}
    assert get("narrative").json["statements"]
    assert get("fhir").json["resourceType"] == "Bundle"
    listing = get("profile_documents").json
    assert ([item["id"] for item in listing["items"]], listing["total"]) == ([sf_id], 1)
    mine = [item for item in get("profiles").json["items"] if item["id"] == pid]
    assert [item["access"] for item in mine] == [role]


@pytest.mark.parametrize("role", ["revoked", "expired", "stranger"])
def test_profile_list_omits_what_the_caller_cannot_reach(
    client: FlaskClient, world: World, role: str
) -> None:
    response = call_on_world(client, world, BY_NAME["profiles"], role)

    assert response.status_code == 200
    expected = ["Stranger Self"] if role == "stranger" else []
    assert [item["display_name"] for item in response.json["items"]] == expected
    assert_leaks_nothing(response, world.secrets(), world.content)


def test_a_refused_write_changes_nothing(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    """read_only may read but not upload, reprocess, cancel, archive or delete."""

    def snapshot() -> tuple:
        shell_file = db_session.get(ShellFile, world.shell_file_id)
        db_session.refresh(shell_file)
        return (
            shell_file.status,
            shell_file.run_number,
            db_session.scalar(select(func.count()).select_from(ShellFile)),
            db_session.scalar(select(func.count()).select_from(Job)),
            db_session.scalar(select(func.count()).select_from(BlobChunk)),
            db_session.scalar(select(func.count()).select_from(OcrPage)),
            db_session.scalar(select(func.count()).select_from(ClinicalEntity)),
        )

    for name in ("upload", "reprocess", "cancel", "archive", "hard_delete"):
        put_in_state(db_session, world.shell_file_id, BY_NAME[name].state)
        before = snapshot()
        refused = call_on_world(client, world, BY_NAME[name], "read_only")
        assert refused.status_code == 404, name
        assert snapshot() == before, name
    hard = call_on_world(client, world, BY_NAME["hard_delete"], "read_write")
    assert hard.status_code == 404
    assert db_session.get(ShellFile, world.shell_file_id) is not None


def test_hard_delete_removes_everything_derived(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    response = call_on_world(client, world, BY_NAME["hard_delete"], "full_access")

    assert response.status_code == 204
    db_session.expire_all()
    assert db_session.get(ShellFile, world.shell_file_id) is None
    for model in (Job, OcrPage, ClinicalEntity):
        assert not db_session.scalar(
            select(func.count()).where(model.shell_file_id == world.shell_file_id)
        ), model.__name__
    status = call_on_world(client, world, BY_NAME["status"], "owner")
    assert status.status_code == 404


def test_grant_expiring_in_the_future_counts(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    account, token = make_account(db_session)
    grant(
        db_session,
        world.profile,
        account,
        "read_write",
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    world.accounts["future"], world.tokens["future"] = account, token

    for operation in OPERATIONS:
        put_in_state(db_session, world.shell_file_id, operation.state)
        response = call_on_world(client, world, operation, "future")
        wanted = operation.ok if operation.level != "full_access" else 404
        assert response.status_code == wanted, (operation.name, body_text(response))


def _spoil_token(session: Session, account: Account, state: str) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    if state == "inactive_account":
        account.is_active = False
    else:
        for token in session.scalars(select(ApiToken).where(ApiToken.account_id == account.id)):
            setattr(token, "revoked_at" if state == "revoked_token" else "expires_at", past)
    session.flush()


@pytest.mark.parametrize("state", ["revoked_token", "expired_token", "inactive_account"])
def test_dead_credentials_are_401_even_for_the_owner(
    client: FlaskClient, db_session: Session, world: World, state: str
) -> None:
    _spoil_token(db_session, world.accounts["owner"], state)
    before = last_audit_id(db_session)

    for operation in OPERATIONS:
        if operation.level == "public":
            continue
        put_in_state(db_session, world.shell_file_id, operation.state)
        response = call_on_world(client, world, operation, "owner")
        assert response.status_code == 401, operation.name
        assert_leaks_nothing(response, world.secrets(), world.content)
    assert audit_rows_since(db_session, before) == []


@pytest.mark.parametrize("operation", DOCUMENT_OPERATIONS, ids=lambda op: op.name)
def test_malformed_shell_file_id_is_404(client: FlaskClient, world: World, operation) -> None:
    response = call(
        client,
        operation,
        world.headers("owner"),
        shell_file_id="not-a-uuid",
        profile_id=world.profile.id,
    )

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_malformed_profile_id_is_404(client: FlaskClient, world: World) -> None:
    response = call(
        client,
        BY_NAME["profile_documents"],
        world.headers("owner"),
        shell_file_id=world.shell_file_id,
        profile_id="not-a-uuid",
    )

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("operation", PATIENT_DATA_OPERATIONS, ids=lambda op: op.name)
def test_access_that_cannot_be_audited_is_refused(
    client: FlaskClient, db_session: Session, world: World, operation: Operation
) -> None:
    """Fail closed: an address too long for audit_log.client_address makes the audit
    insert fail; the caller gets 503, no data, and a write does not happen."""
    put_in_state(db_session, world.shell_file_id, operation.state)
    documents = db_session.scalar(select(func.count()).select_from(ShellFile))
    before = last_audit_id(db_session)

    response = call_on_world(client, world, operation, "owner", REMOTE_ADDR="9" * 80)

    assert response.status_code == 503, body_text(response)
    assert response.json["error"]["code"] == "audit_unavailable"
    assert audit_rows_since(db_session, before) == []
    assert_leaks_nothing(response, world.secrets(), world.content)
    db_session.expire_all()
    shell_file = db_session.get(ShellFile, world.shell_file_id)
    assert shell_file is not None and shell_file.status == operation.state
    assert shell_file.run_number == 1
    assert db_session.scalar(select(func.count()).select_from(ShellFile)) == documents


def test_an_archived_profile_is_read_only_for_all_but_its_owner(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    """Grantees keep reading an archived profile but may change nothing in it: no
    reprocess, cancel, archive or delete (404, as for any level they lack). The owner
    keeps every right, deleting included."""
    world.profile.archived = True
    db_session.flush()
    shell_file = db_session.get(ShellFile, world.shell_file_id)
    assert shell_file is not None
    writes = ("reprocess", "cancel", "archive", "hard_delete")
    for role in ("read_write", "full_access"):
        for name in writes:
            put_in_state(db_session, world.shell_file_id, BY_NAME[name].state)
            before = (shell_file.status, shell_file.run_number, last_audit_id(db_session))
            refused = call_on_world(client, world, BY_NAME[name], role)
            assert refused.status_code == 404, (role, name)
            db_session.refresh(shell_file)
            after = (shell_file.status, shell_file.run_number, last_audit_id(db_session))
            assert after == before, (role, name)
        assert call_on_world(client, world, BY_NAME["status"], role).status_code == 200

    for name in writes:
        put_in_state(db_session, world.shell_file_id, BY_NAME[name].state)
        answered = call_on_world(client, world, BY_NAME[name], "owner")
        assert answered.status_code == BY_NAME[name].ok, name
    db_session.expire_all()
    assert db_session.get(ShellFile, world.shell_file_id) is None
