"""The served OpenAPI document matches the routes the app has and the bodies it returns.

The document is generated from the schemas the views declare (`app.api.schemas`), so
checking an answer against it checks it against those schemas.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from flask import Blueprint, Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from app.api.openapi import Reply, build, documented
from app.api.schemas import Error
from app.models import Job, ProcessingError
from tests.support.api import upload
from tests.support.factories import bearer, grant, make_account, make_profile
from tests.support.processed import process_in_place
from tests.support.samples import Samples

SPEC_URI = "urn:shellfile-pipeline:openapi"
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
IGNORED_METHODS = {"HEAD", "OPTIONS"}  # Flask adds these to every rule by itself


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json


def openapi_path(rule: str) -> str:
    """Flask's /a/<id> or /a/<int:id> as OpenAPI's /a/{id}."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def app_operations(app: Flask) -> dict[str, set[str]]:
    operations: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            methods = {m.lower() for m in (rule.methods or set()) - IGNORED_METHODS}
            operations.setdefault(openapi_path(rule.rule), set()).update(methods)
    return operations


def spec_operations(spec: dict[str, Any]) -> dict[str, set[str]]:
    return {path: set(item) & HTTP_METHODS for path, item in spec["paths"].items()}


def pointer(*parts: str) -> str:
    """A JSON pointer into the spec (RFC 6901 escaping)."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def response_errors(
    spec: dict[str, Any], path: str, method: str, response: TestResponse
) -> list[str]:
    """How `response` breaks the schema the spec gives for its path, method and status."""
    documented = spec["paths"][path][method]["responses"]
    status = str(response.status_code)
    assert status in documented, f"{method.upper()} {path} does not document {status}"
    content = documented[status]["content"]
    assert response.mimetype in content, f"{status} is not documented as {response.mimetype}"
    location = pointer(
        "paths", path, method, "responses", status, "content", response.mimetype, "schema"
    )
    registry = Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    validator = Draft202012Validator(
        {"$ref": f"{SPEC_URI}#{location}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(response.json)
    ]


@pytest.fixture
def owner(db_session: Session):
    account, token = make_account(db_session)
    profile = make_profile(db_session, account)
    return account, token, profile


def test_openapi_is_served_without_a_token(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert re.fullmatch(r"3\.\d+\.\d+", response.json["openapi"])
    assert response.json["info"]["title"] and response.json["paths"]


def test_component_schemas_are_valid_json_schemas(spec: dict[str, Any]) -> None:
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    for name, schema in spec["components"]["schemas"].items():
        assert [error.message for error in meta.iter_errors(schema)] == [], name


def test_every_api_route_is_documented_with_its_methods(app: Flask, spec: dict[str, Any]) -> None:
    routes = app_operations(app)
    documented = spec_operations(spec)

    assert routes, "the app has no routes under /api/v1"
    for path, methods in routes.items():
        assert path in documented, f"{path} is not in the spec"
        assert documented[path] == methods, path


def test_the_spec_documents_no_route_the_app_lacks(app: Flask, spec: dict[str, Any]) -> None:
    assert spec_operations(spec) == app_operations(app)


def test_route_conversion(app: Flask) -> None:
    assert openapi_path("/a/<shell_file_id>/b") == "/a/{shell_file_id}/b"
    assert openapi_path("/a/<uuid:id>") == "/a/{id}"
    assert "/api/v1/shell-files/{shell_file_id}/errors" in app_operations(app)


def test_a_route_without_a_declaration_fails_the_build() -> None:
    rooms = Blueprint("rooms", __name__, url_prefix="/rooms")

    @rooms.get("/<room_id>")
    @documented("A room", Reply(404, "No such room", Error))
    def get_room(room_id: str) -> str:
        return room_id

    @rooms.delete("/<room_id>")
    def delete_room(room_id: str) -> str:
        return room_id

    with pytest.raises(LookupError, match=r"rooms\.delete_room"):
        build(rooms)


def test_the_build_takes_paths_methods_and_parameters_from_the_routes() -> None:
    rooms = Blueprint("rooms", __name__, url_prefix="/rooms")

    @rooms.get("/<room_id>/doors/<int:number>")
    @documented("A door", Reply(404, "No such door", Error))
    def get_door(room_id: str, number: int) -> str:
        return room_id

    described = build(rooms)

    operation = described["paths"]["/rooms/{room_id}/doors/{number}"]["get"]
    assert operation["operationId"] == "get_door"
    assert [(p["name"], p["schema"]["type"]) for p in operation["parameters"]] == [
        ("room_id", "string"),
        ("number", "integer"),
    ]
    assert operation["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert set(described["components"]["schemas"]) == {"Error", "ErrorDetail"}


def test_upload_answers_match_the_spec(client: FlaskClient, spec, owner, samples: Samples) -> None:
    _, token, profile = owner
    data = samples.read("letter.pdf")

    created = upload(client, token, profile.id, data)
    replayed = upload(client, token, profile.id, data)

    assert (created.status_code, replayed.status_code) == (201, 200)
    assert response_errors(spec, "/api/v1/shell-files", "post", created) == []
    assert response_errors(spec, "/api/v1/shell-files", "post", replayed) == []


def test_shell_file_matches_the_spec(client: FlaskClient, spec, owner, samples: Samples) -> None:
    _, token, profile = owner
    shell_file_id = upload(client, token, profile.id, samples.read("letter.pdf")).json[
        "shell_file_id"
    ]

    response = client.get(f"/api/v1/shell-files/{shell_file_id}", headers=bearer(token))

    assert response.status_code == 200
    assert response.json["stages"], "a fresh upload has stages to describe"
    assert response_errors(spec, "/api/v1/shell-files/{shell_file_id}", "get", response) == []


def test_errors_match_the_spec(
    client: FlaskClient, db_session: Session, spec, owner, samples: Samples
) -> None:
    _, token, profile = owner
    shell_file_id = uuid.UUID(
        upload(client, token, profile.id, samples.read("letter.pdf")).json["shell_file_id"]
    )
    head = db_session.scalars(
        select(Job).where(Job.shell_file_id == shell_file_id).order_by(Job.stage_index)
    ).first()
    db_session.add_all(
        [
            ProcessingError(
                shell_file_id=shell_file_id,
                job_id=head.id,
                stage="security_scan",
                error_type="timeout",
                error_message="scanner timed out",
                retry_count=1,
            ),
            ProcessingError(
                shell_file_id=shell_file_id,
                job_id=None,
                stage="ocr",
                error_type="corrupt",
                error_message="no pages",
                is_final=True,
            ),
        ]
    )
    db_session.flush()

    response = client.get(f"/api/v1/shell-files/{shell_file_id}/errors", headers=bearer(token))

    assert response.status_code == 200
    assert len(response.json["items"]) == 2
    path = "/api/v1/shell-files/{shell_file_id}/errors"
    assert response_errors(spec, path, "get", response) == []


def test_profile_shell_files_match_the_spec(
    client: FlaskClient, spec, owner, samples: Samples
) -> None:
    _, token, profile = owner
    upload(client, token, profile.id, samples.read("letter.pdf"))
    upload(client, token, profile.id, samples.read("scan.png"))

    response = client.get(f"/api/v1/profiles/{profile.id}/shell-files", headers=bearer(token))

    assert response.status_code == 200 and response.json["total"] == 2
    path = "/api/v1/profiles/{profile_id}/shell-files"
    assert response_errors(spec, path, "get", response) == []


def test_profiles_match_the_spec(client: FlaskClient, db_session: Session, spec, owner) -> None:
    account, token, _ = owner
    other, _ = make_account(db_session)
    grant(db_session, make_profile(db_session, other, profile_type="pet"), account, "read_only")

    response = client.get("/api/v1/profiles", headers=bearer(token))

    assert response.status_code == 200
    assert {item["access"] for item in response.json["items"]} == {"owner", "read_only"}
    assert response_errors(spec, "/api/v1/profiles", "get", response) == []


def test_error_bodies_match_the_spec(client: FlaskClient, spec, owner) -> None:
    _, token, _ = owner
    path = "/api/v1/shell-files/{shell_file_id}"
    url = f"/api/v1/shell-files/{uuid.uuid4()}"

    missing = client.get(url, headers=bearer(token))
    anonymous = client.get(url)

    assert (missing.status_code, anonymous.status_code) == (404, 401)
    assert response_errors(spec, path, "get", missing) == []
    assert response_errors(spec, path, "get", anonymous) == []
    assert response_errors(spec, "/api/v1/profiles", "get", client.get("/api/v1/profiles")) == []


def test_validation_catches_a_body_that_breaks_the_spec(client: FlaskClient, spec, owner) -> None:
    """The checker itself can fail: a 404 error body is no ShellFile."""
    _, token, _ = owner
    missing = client.get(f"/api/v1/shell-files/{uuid.uuid4()}", headers=bearer(token))
    missing.status_code = 200  # pretend it answered, to check against the 200 schema

    assert response_errors(spec, "/api/v1/shell-files/{shell_file_id}", "get", missing)


def test_a_key_the_schema_does_not_declare_breaks_the_spec(
    client: FlaskClient, spec, owner, samples: Samples
) -> None:
    """An answer may not grow a key its schema lacks: the schema and the view move together."""
    _, token, profile = owner
    shell_file_id = upload(client, token, profile.id, samples.read("letter.pdf")).json[
        "shell_file_id"
    ]
    response = client.get(f"/api/v1/shell-files/{shell_file_id}", headers=bearer(token))
    path = "/api/v1/shell-files/{shell_file_id}"
    assert response_errors(spec, path, "get", response) == []

    response.set_data(json.dumps({**response.json, "undeclared": 1}))

    assert response_errors(spec, path, "get", response)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/shell-files/{shell_file_id}",
        "/api/v1/shell-files/{shell_file_id}/errors",
        "/api/v1/shell-files/{shell_file_id}/content",
        "/api/v1/profiles/{profile_id}/shell-files",
        "/api/v1/profiles",
    ],
)
def test_audit_unavailable_answer_is_documented(
    client: FlaskClient, db_session: Session, spec, owner, samples: Samples, path: str
) -> None:
    """Every audited read answers 503 audit_unavailable when its audit row cannot be
    written (here: a client address too long for audit_log.client_address)."""
    _, token, profile = owner
    shell_file_id = upload(client, token, profile.id, samples.read("letter.pdf")).json[
        "shell_file_id"
    ]
    process_in_place(client.application, db_session, uuid.UUID(shell_file_id))  # servable
    url = path.format(shell_file_id=shell_file_id, profile_id=profile.id)

    response = client.get(url, headers=bearer(token), environ_base={"REMOTE_ADDR": "9" * 80})

    assert response.status_code == 503
    assert response_errors(spec, path, "get", response) == []


def test_a_value_that_needs_review_says_so_in_the_clinical_records(
    app: Flask, client: FlaskClient, db_session: Session, spec, owner
) -> None:
    _, token, profile = owner
    letter = b"Blood results\nPotassium 46 mmol/L (3.5 - 5.3)\nSodium 139 mmol/L (135 - 145)\n"
    shell_file_id = upload(client, token, profile.id, letter, name="labs.txt").json["shell_file_id"]
    process_in_place(app, db_session, uuid.UUID(shell_file_id))

    path = "/api/v1/shell-files/{shell_file_id}/clinical-records"
    response = client.get(path.format(shell_file_id=shell_file_id), headers=bearer(token))

    assert response.status_code == 200
    assert response_errors(spec, path, "get", response) == []
    labs = {item["display"]: item["data"] for item in response.json["items"]}
    assert labs["potassium"]["needs_review"] is True
    assert labs["potassium"]["review_reason"] == "outside_physiological_limits"
    assert labs["sodium"]["needs_review"] is False
