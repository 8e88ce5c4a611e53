"""The AI lane on the session's real worker, with the local provider: entities with their
page and box, normalised records, a narrative that cites them, a valid FHIR Bundle."""

from __future__ import annotations

import io
import uuid

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from app.models import AiUsage, AuditLog
from tests.support.api import upload
from tests.support.documents import render_pages
from tests.support.factories import bearer, make_account, make_profile
from tests.support.pipeline import wait_for_status

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def owner(app):
    with app.extensions["db"].session() as session:
        account, token = make_account(session)
        profile = make_profile(session, account)
    return token, profile.id


def processed(app, owner, data: bytes, name: str) -> uuid.UUID:
    token, profile_id = owner
    response = upload(app.test_client(), token, profile_id, data, name=name)
    assert response.status_code == 201
    shell_file = wait_for_status(app, uuid.UUID(response.json["shell_file_id"]), timeout=90)
    assert shell_file.status == "completed"
    return shell_file.id


def get(app, owner, shell_file_id, what: str):
    token, _ = owner
    response = app.test_client().get(
        f"/api/v1/shell-files/{shell_file_id}/{what}", headers=bearer(token)
    )
    assert response.status_code == 200, response.json
    return response.json


def test_a_discharge_summary_becomes_records_a_narrative_and_fhir(app, owner, samples) -> None:
    shell_file_id = processed(app, owner, samples.read("clinical.pdf"), "discharge.pdf")

    entities = {e["text"]: e for e in get(app, owner, shell_file_id, "entities")["items"]}
    metformin = next(e for text, e in entities.items() if text.startswith("Metformin"))
    assert metformin["type"] == "medication" and metformin["page"] == 1
    assert all(0 <= v <= 1 for v in metformin["box"])
    chest_pain = next(e for text, e in entities.items() if text == "chest pain")
    assert chest_pain["negated"] is True

    body = get(app, owner, shell_file_id, "clinical-records")
    assert body["document_kind"] == "discharge_summary"
    assert body["document_date"] == "2024-03-12"
    by_type = {}
    for item in body["items"]:
        by_type.setdefault(item["type"], []).append(item["data"])
    (medication,) = by_type["medication"]
    assert (
        medication["name"].lower(),
        medication["strength"],
        medication["strength_unit"],
        medication["frequency"],
    ) == ("metformin", 500, "mg", "twice daily")
    (lab,) = by_type["lab_result"]
    assert (
        lab["test"].lower(),
        lab["value"],
        lab["unit"],
        lab["reference_low"],
        lab["reference_high"],
    ) == ("haemoglobin", 135, "g/L", 130, 170)
    vitals = {v["type"]: v for v in by_type["vital"]}
    assert (vitals["blood_pressure"]["systolic"], vitals["blood_pressure"]["diastolic"]) == (
        142,
        91,
    )
    assert vitals["heart_rate"]["value"] == 88
    (allergy,) = by_type["allergy"]
    assert (allergy["substance"].lower(), allergy["reaction"]) == ("penicillin", "rash")
    entity_ids = {e["id"] for e in entities.values()}
    for item in body["items"]:
        assert set(item["entity_ids"]) <= entity_ids and item["entity_ids"]

    narrative = get(app, owner, shell_file_id, "narrative")
    record_ids = {item["id"] for item in body["items"]}
    assert narrative["statements"] and narrative["provider"] == "local"
    for statement in narrative["statements"]:
        assert statement["record_ids"] and set(statement["record_ids"]) <= record_ids

    bundle = Bundle.model_validate(get(app, owner, shell_file_id, "fhir"))
    kinds = [entry.resource.__resource_type__ for entry in bundle.entry]
    assert {
        "DocumentReference",
        "MedicationStatement",
        "Observation",
        "AllergyIntolerance",
        "Provenance",
    } <= set(kinds)
    provenance = next(
        e.resource for e in bundle.entry if e.resource.__resource_type__ == "Provenance"
    )
    (location, *_) = provenance.entity[0].what.extension
    assert {ext.url: ext for ext in location.extension}["page"].valueInteger == 1

    with app.extensions["db"].session() as session:
        usage = session.scalars(select(AiUsage).where(AiUsage.shell_file_id == shell_file_id))
        assert sorted((u.stage, u.provider, u.cost_usd) for u in usage) == [
            ("pass1", "local", 0.0),
            ("pass2", "local", 0.0),
            ("pass3", "local", 0.0),
        ]
        reads = session.scalars(
            select(AuditLog.table_name).where(
                AuditLog.record_id == str(shell_file_id), AuditLog.operation == "read"
            )
        ).all()
    assert {"clinical_entities", "clinical_records", "narratives"} <= set(reads)


@pytest.mark.slow
def test_a_scanned_letter_is_read_from_pixels_to_records(app, owner, samples) -> None:
    (page,) = render_pages(samples.read("clinical.pdf"))
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    shell_file_id = processed(app, owner, buffer.getvalue(), "scan.png")

    body = get(app, owner, shell_file_id, "clinical-records")
    types = {item["type"] for item in body["items"]}
    assert {"medication", "lab_result", "vital", "allergy"} <= types
    entities = get(app, owner, shell_file_id, "entities")["items"]
    assert all(e["page"] == 1 and e["box"] for e in entities)
