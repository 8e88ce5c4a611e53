"""The profile's health record through the API: merged across documents taken through the
real stage functions, kept up to date by archive, delete and reprocess, audited, and
exported as a FHIR R4 Bundle that a second FHIR library reads too."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhirclient.models.bundle import Bundle as ClientBundle
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditLog, RecordMention
from tests.support.api import upload
from tests.support.factories import bearer, make_account, make_profile
from tests.support.processed import process_in_place
from tests.support.samples import text_pdf

HBA1C_IFCC, HBA1C_NGSP = "59261-8", "4548-4"


def lab_report(date: str, hba1c: str, dose: str = "500 mg") -> list[str]:
    return [
        "Laboratory report",
        f"Date of report: {date}",
        f"Results: HbA1c {hba1c}",
        f"Medications: Metformin {dose} twice daily",
        "The patient denies chest pain. Mother had breast cancer.",
        "Allergies: penicillin - rash",
    ]


@pytest.fixture
def owner(db_session: Session) -> dict[str, Any]:
    account, token = make_account(db_session)
    profile = make_profile(db_session, account)
    return {"token": token, "profile": profile, "account": account}


def add_document(
    app: Flask, client: FlaskClient, db_session: Session, owner: dict[str, Any], lines: list[str]
) -> uuid.UUID:
    response = upload(client, owner["token"], owner["profile"].id, text_pdf(lines), name="r.pdf")
    assert response.status_code == 201, response.json
    return process_in_place(app, db_session, uuid.UUID(response.json["shell_file_id"])).id


def get(client: FlaskClient, owner: dict[str, Any], path: str, status: int = 200) -> Any:
    url = f"/api/v1/profiles/{owner['profile'].id}{path}"
    response = client.get(url, headers=bearer(owner["token"]))
    assert response.status_code == status, response.json
    return response.json


@pytest.fixture
def three_reports(app: Flask, client: FlaskClient, db_session: Session, owner) -> list[uuid.UUID]:
    return [
        add_document(app, client, db_session, owner, lab_report("01/03/2022", "48 mmol/mol")),
        add_document(app, client, db_session, owner, lab_report("01/03/2023", "53 mmol/mol")),
        add_document(
            app, client, db_session, owner, lab_report("01/03/2024", "6.8 %", dose="1000 mg")
        ),
    ]


def test_three_dated_lab_reports_make_one_hba1c_series_and_one_medication(
    client: FlaskClient, owner, three_reports
) -> None:
    record = get(client, owner, "/record")

    (hba1c,) = [o for o in record["observations"] if o["key"] == HBA1C_IFCC]
    assert (hba1c["unit"], hba1c["count"], hba1c["latest"]["value"]) == ("%", 3, 6.8)
    (metformin,) = record["medications"]
    assert (metformin["status"], metformin["strength"], metformin["strength_unit"]) == (
        "active",
        1000,
        "mg",
    )
    assert (metformin["seen"]["first_seen"], metformin["seen"]["last_seen"]) == (
        "2022-03-01",
        "2024-03-01",
    )
    assert [s["shell_file_id"] for s in metformin["sources"]] == [str(i) for i in three_reports]
    assert all(s["places"][0]["page"] == 1 for s in metformin["sources"])
    assert [a["substance"].lower() for a in record["allergies"]] == ["penicillin"]
    # "denies chest pain" and the mother's cancer are not this person's conditions.
    assert record["conditions"] == []

    # Any of the test's codes names the series; the IFCC values are shown in %.
    series = get(client, owner, f"/record/observations?code={HBA1C_NGSP}")["observation"]
    (main,) = series["series"]
    assert [p["value"] for p in main["points"]] == [6.542, 6.9995, 6.8]
    assert [p["original_unit"] for p in main["points"]] == ["mmol/mol", "mmol/mol", "%"]
    assert [p["source"]["shell_file_id"] for p in main["points"]] == [str(i) for i in three_reports]


def test_each_read_of_the_record_is_audited(
    client: FlaskClient, db_session: Session, owner, three_reports
) -> None:
    get(client, owner, "/record")
    get(client, owner, "/record/medications")
    get(client, owner, f"/record/observations?code={HBA1C_IFCC}")
    get(client, owner, "/fhir")
    reads = db_session.scalars(
        select(AuditLog.reason).where(
            AuditLog.account_id == owner["account"].id,
            AuditLog.table_name == "record_entries",
            AuditLog.patient_id == owner["profile"].id,
        )
    ).all()
    assert sorted(reads) == [
        "export health record as FHIR",
        "view health record",
        "view health record: medications",
        "view health record: results",
    ]


def test_a_profile_without_documents_has_an_empty_record(client: FlaskClient, owner) -> None:
    record = get(client, owner, "/record")
    assert record == {
        "profile_id": str(owner["profile"].id),
        **{
            section: []
            for section in (
                "medications",
                "conditions",
                "allergies",
                "immunizations",
                "procedures",
                "observations",
            )
        },
    }
    assert get(client, owner, "/record/medications")["items"] == []
    bundle = get(client, owner, "/fhir")
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Patient"]


@pytest.mark.parametrize(
    ("query", "status"),
    [("", 400), ("?code=", 400), ("?code=" + "9" * 65, 400), ("?code=0000-0", 404)],
)
def test_a_series_needs_a_code_it_knows(client: FlaskClient, owner, query, status) -> None:
    body = get(client, owner, f"/record/observations{query}", status)
    assert body["error"]["code"] in ("bad_request", "not_found")


def test_archiving_or_deleting_a_document_takes_it_out_of_the_record(
    client: FlaskClient, db_session: Session, owner, three_reports
) -> None:
    headers = bearer(owner["token"])
    assert (
        client.delete(f"/api/v1/shell-files/{three_reports[2]}", headers=headers).status_code == 200
    )
    response = client.delete(f"/api/v1/shell-files/{three_reports[0]}?hard=true", headers=headers)
    assert response.status_code == 204

    record = get(client, owner, "/record")
    (hba1c,) = record["observations"]
    assert (hba1c["unit"], hba1c["count"], hba1c["latest"]["value"]) == ("mmol/mol", 1, 53)
    (metformin,) = record["medications"]
    assert [s["shell_file_id"] for s in metformin["sources"]] == [str(three_reports[1])]
    assert metformin["strength"] == 500
    mentions = db_session.scalars(
        select(RecordMention.shell_file_id).where(RecordMention.patient_id == owner["profile"].id)
    ).all()
    assert set(mentions) == {three_reports[1]}


def test_a_reprocess_takes_the_document_out_until_its_new_run_puts_it_back(
    app: Flask, client: FlaskClient, db_session: Session, owner, three_reports
) -> None:
    response = client.post(
        f"/api/v1/shell-files/{three_reports[2]}/reprocess", headers=bearer(owner["token"])
    )
    assert response.status_code == 202, response.json
    (hba1c,) = get(client, owner, "/record")["observations"]
    assert (hba1c["unit"], hba1c["count"]) == ("mmol/mol", 2)

    process_in_place(app, db_session, three_reports[2])
    (hba1c,) = get(client, owner, "/record")["observations"]
    assert (hba1c["unit"], hba1c["count"]) == ("%", 3)
    mentions = db_session.scalars(
        select(RecordMention.shell_file_id).where(RecordMention.patient_id == owner["profile"].id)
    ).all()
    assert set(mentions) == set(three_reports)


def test_the_fhir_bundle_is_r4_for_fhir_resources_and_for_fhirclient(
    client: FlaskClient, owner, three_reports
) -> None:
    bundle = get(client, owner, "/fhir")
    assert Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True) == bundle

    parsed = ClientBundle(bundle, strict=True)  # SMART on FHIR's R4 models: a second reader
    kinds = [entry.resource.resource_type for entry in parsed.entry]
    assert kinds[0] == "Patient"
    assert {"MedicationStatement", "AllergyIntolerance", "Observation", "Provenance"} <= set(kinds)
    assert kinds.count("DocumentReference") == 3
    assert kinds.count("Observation") == 3  # the three HbA1c results
    codes = {
        (e.resource.code.coding[0].code, e.resource.valueQuantity.unit)
        for e in parsed.entry
        if e.resource.resource_type == "Observation"
    }
    assert codes == {("4548-4", "%")}  # in the display unit, each with its unit's code
    targets = {
        provenance.target[0].reference
        for provenance in (e.resource for e in parsed.entry)
        if provenance.resource_type == "Provenance"
    }
    cited = {
        e.fullUrl
        for e in parsed.entry
        if e.resource.resource_type not in ("Provenance", "Patient", "DocumentReference")
    }
    assert cited == targets  # every resource has its Provenance
    medication = next(
        e.resource for e in parsed.entry if e.resource.resource_type == "MedicationStatement"
    )
    assert medication.medicationCodeableConcept.coding[0].system.endswith("rxnorm")
    provenance = next(
        e.resource
        for e in parsed.entry
        if e.resource.resource_type == "Provenance" and len(e.resource.entity) == 3
    )
    place = provenance.entity[0].what.extension[0]
    assert (place.extension[0].url, place.extension[0].valueInteger) == ("page", 1)


def make_stale(db_session: Session, owner: dict[str, Any]) -> None:
    """The record as an older release left it: its medicine keyed by name, not code."""
    from sqlalchemy import update

    from app.models import UserProfile

    db_session.execute(
        update(RecordMention)
        .where(
            RecordMention.patient_id == owner["profile"].id,
            RecordMention.section == "medications",
        )
        .values(merge_key="name:metformin")
    )
    db_session.execute(
        update(UserProfile).where(UserProfile.id == owner["profile"].id).values(record_rules=1)
    )
    db_session.commit()


def medication_keys(db_session: Session, owner: dict[str, Any]) -> set[str]:
    query = select(RecordMention.merge_key).where(
        RecordMention.patient_id == owner["profile"].id, RecordMention.section == "medications"
    )
    return set(db_session.scalars(query))


def test_a_rebuild_makes_a_stale_record_again_from_the_documents_records(
    app: Flask, client: FlaskClient, db_session: Session, owner, three_reports
) -> None:
    """`flask record rebuild --stale` (the Procfile's release step) after a release that
    keys mentions differently: only records made under older rules are made again."""
    before = get(client, owner, "/record")
    runner = app.test_cli_runner()
    only = ["record", "rebuild", "--stale", "--profile", str(owner["profile"].id)]
    assert '"profiles": 0' in runner.invoke(args=only).output
    make_stale(db_session, owner)

    result = runner.invoke(args=only)
    assert result.exit_code == 0, result.output
    assert '"profiles": 1, "documents": 3' in result.output
    assert medication_keys(db_session, owner) == {"rxnorm:6809"}
    assert get(client, owner, "/record") == before
    assert '"profiles": 0' in runner.invoke(args=only).output
    everyone = runner.invoke(args=["record", "rebuild", "--stale"])
    assert everyone.exit_code == 0, everyone.output
    missing = runner.invoke(args=["record", "rebuild", "--profile", str(uuid.uuid4())])
    assert missing.exit_code != 0 and "no such profile" in missing.output


def test_a_new_document_makes_a_stale_record_again_before_it_joins(
    app: Flask, client: FlaskClient, db_session: Session, owner, three_reports
) -> None:
    make_stale(db_session, owner)
    add_document(app, client, db_session, owner, lab_report("01/03/2025", "6.1 %"))

    assert medication_keys(db_session, owner) == {"rxnorm:6809"}
    (metformin,) = get(client, owner, "/record")["medications"]
    assert len(metformin["sources"]) == 4
    hba1c = get(client, owner, f"/record/observations?code={HBA1C_NGSP}")["observation"]
    assert hba1c["count"] == 4


def test_an_entry_whose_state_cannot_be_read_is_rebuilt_when_a_document_joins(
    app: Flask, client: FlaskClient, db_session: Session, owner, three_reports
) -> None:
    from sqlalchemy import update

    from app.models import RecordEntry

    db_session.execute(
        update(RecordEntry)
        .where(RecordEntry.patient_id == owner["profile"].id)
        .values(state={"written by": "another version"})
    )
    db_session.commit()
    add_document(app, client, db_session, owner, lab_report("01/03/2025", "6.1 %"))

    (metformin,) = get(client, owner, "/record")["medications"]
    assert len(metformin["sources"]) == 4
    hba1c = get(client, owner, f"/record/observations?code={HBA1C_NGSP}")["observation"]
    assert hba1c["count"] == 4
