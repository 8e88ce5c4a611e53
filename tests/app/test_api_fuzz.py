"""Schemathesis against the OpenAPI description: no 5xx, no answer outside the schema.

Every operation of the served description (`app.api.openapi.description()`, generated
from the declared schemas) is fuzzed with generated input, valid and
invalid (Schemathesis's positive and negative modes), as the owner of a profile holding
a document taken through every stage. Most generated ids are swapped for the real
ones (deterministically, from the generated value), so the fuzzer reaches the
documents' data and not only 404s. Each operation runs in its own rolled-back
transaction. Generation is deterministic with a bounded number of examples.
"""

from __future__ import annotations

import copy
import uuid
import zlib
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy.orm import Session

from app.api.openapi import description
from tests.support.api import upload
from tests.support.factories import bearer, make_account, make_profile
from tests.support.processed import process_in_place
from tests.support.samples import CLINICAL_LETTER, text_pdf

MAX_EXAMPLES = 30

schema = schemathesis.openapi.from_dict(copy.deepcopy(description()))
schema.config.generation.update(
    max_examples=MAX_EXAMPLES,
    deterministic=True,
    database="none",
    # The token is ours to send (a caller without one is the `ignored_auth` check's job).
    with_security_parameters=False,
    # Unknown query parameters are ignored, as HTTP APIs commonly do; not an error.
    allow_extra_parameters=False,
)


@pytest.fixture
def owner(app: Flask, client: FlaskClient, db_session: Session) -> dict[str, Any]:
    """An owner, their profile, and one document with pages, entities, records and a narrative."""
    account, token = make_account(db_session)
    profile = make_profile(db_session, account)
    response = upload(client, token, profile.id, text_pdf(CLINICAL_LETTER), name="letter.pdf")
    assert response.status_code == 201, response.json
    shell_file = process_in_place(app, db_session, uuid.UUID(response.json["shell_file_id"]))
    return {
        "token": token,
        "ids": {"shell_file_id": str(shell_file.id), "profile_id": str(profile.id)},
    }


def mostly_real(value: object, real: str) -> object:
    """The real id two times in three, chosen from the generated value (so deterministic)."""
    return value if zlib.crc32(repr(value).encode()) % 3 == 0 else real


def aim_at_real_data(case: Any, owner: dict[str, Any]) -> None:
    """Swap generated ids for real ones in valid cases (an invalid case stays as
    generated: the fuzzer expects its invalid parts to be refused)."""
    if case.meta is not None and case.meta.generation.mode == GenerationMode.NEGATIVE:
        return
    ids = owner["ids"]
    for name in ("shell_file_id", "profile_id"):
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = mostly_real(case.path_parameters[name], ids[name])
    if case.path_parameters and "page_number" in case.path_parameters:
        number = case.path_parameters["page_number"]
        if zlib.crc32(repr(number).encode()) % 3:
            case.path_parameters["page_number"] = 1
    if isinstance(case.body, dict) and "patient_id" in case.body:
        case.body["patient_id"] = mostly_real(case.body["patient_id"], ids["profile_id"])


@schema.parametrize()
@settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture]
)  # one transaction per operation
def test_api_answers_within_its_description(
    case: Any, app: Flask, db_session: Session, owner: dict[str, Any]
) -> None:
    # The schema is loaded at import, before the session's app exists; the fuzzer's own
    # probes (no token, an undeclared method) go through the same in-process app.
    case.operation.schema.app = case.operation.app = app
    aim_at_real_data(case, owner)
    excluded = []
    if case.operation.path == "/api/v1/shell-files":
        # The upload's type is judged from the file's bytes (415 otherwise), which no
        # schema can say; the upload's answers are still checked against the schema.
        excluded.append(positive_data_acceptance)
    if case.operation.path == "/api/v1/profiles/{profile_id}/search":
        # A search's syntax (quotes closed, OR between two terms, a word to find) and a
        # date range's order are checked by its parser (400), which no JSON Schema can
        # say; its answers, refusals included, are still checked against the schema.
        excluded.append(positive_data_acceptance)
    case.call_and_validate(app=app, headers=bearer(owner["token"]), excluded_checks=excluded)


# What the fuzzer found, pinned as plain examples.


def test_a_page_number_past_the_column_range_is_404(client: FlaskClient, owner) -> None:
    sf_id = owner["ids"]["shell_file_id"]
    response = client.get(
        f"/api/v1/shell-files/{sf_id}/pages/{2**70}", headers=bearer(owner["token"])
    )

    assert response.status_code == 404


def test_a_page_past_any_offset_is_400(client: FlaskClient, owner) -> None:
    pid = owner["ids"]["profile_id"]
    response = client.get(
        f"/api/v1/profiles/{pid}/shell-files?page={10**19}", headers=bearer(owner["token"])
    )

    assert response.status_code == 400


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"from_stage": null}', "application/json"),
        ("[1]", "application/json"),
        ("x", "text/plain"),
    ],
)
def test_a_malformed_reprocess_body_is_400_not_a_rerun(
    client: FlaskClient, owner, body: str, content_type: str
) -> None:
    sf_id = owner["ids"]["shell_file_id"]
    response = client.post(
        f"/api/v1/shell-files/{sf_id}/reprocess",
        data=body,
        content_type=content_type,
        headers=bearer(owner["token"]),
    )

    assert response.status_code == 400
    status = client.get(f"/api/v1/shell-files/{sf_id}", headers=bearer(owner["token"]))
    assert status.json["run_number"] == 1


def test_a_hard_flag_that_is_not_a_boolean_is_400_not_an_archive(
    client: FlaskClient, owner
) -> None:
    sf_id = owner["ids"]["shell_file_id"]
    response = client.delete(
        f"/api/v1/shell-files/{sf_id}?hard=null", headers=bearer(owner["token"])
    )

    assert response.status_code == 400
    status = client.get(f"/api/v1/shell-files/{sf_id}", headers=bearer(owner["token"]))
    assert status.json["status"] == "completed"


def test_method_not_allowed_names_the_allowed_methods(client: FlaskClient, owner) -> None:
    response = client.put("/api/v1/profiles", headers=bearer(owner["token"]))

    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET"}
