"""The profile's merged record as a FHIR R4 Bundle.

One `collection` Bundle: the Patient (from the profile); a MedicationStatement,
Condition, AllergyIntolerance, Immunization or Procedure per entry; an Observation per
result of every series (a value kept for review is `preliminary`, with a note); a
DocumentReference per document cited; and per resource a Provenance naming each source
document with the page and box of every mention (the extension the per-document Bundle
uses, `app.outputs.fhir`). Ids are UUIDs derived from the profile and the entry, so the
same record always yields the same ids.

The Bundle is written as plain JSON, not through fhir.resources' models: validating and
dumping a profile of 1,000 documents through them took 40 s. The tests hold it to them
instead: for records of every kind (tests/app/test_record_fhir.py), the Bundle must be
exactly what fhir.resources gives back once it has validated it as R4, and must parse
in a second reader, fhirclient.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from app.outputs.fhir import (
    CONDITION_STATUS,
    CVX,
    ICD10CM,
    LOINC,
    RXNORM,
    SNOMED,
    SOURCE_EXTENSION,
    codeable,
    quantity,
)
from app.pipeline.record.mentions import code_in_unit

MEDICATION_STATUS = {"active": "active", "stopped": "stopped", "unknown": "unknown"}
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
UNDATED_NOTE = "The document is undated: this is the day it was uploaded."


class RecordBundle:
    def __init__(self, profile: Any, record: dict[str, list[dict[str, Any]]]) -> None:
        self.profile_id: uuid.UUID = profile.id
        self.profile = profile
        self.record = record
        self.subject = {"reference": self._urn("patient")}
        self.entries: list[tuple[str, dict[str, Any]]] = []
        self.documents: dict[str, str] = {}
        self.recorded = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _urn(self, name: str) -> str:
        return f"urn:uuid:{uuid.uuid5(self.profile_id, name)}"

    def _add(self, name: str, resource: dict[str, Any], sources: list[dict[str, Any]]) -> None:
        urn = self._urn(name)
        self.entries.append((urn, resource))
        what = []
        for source in sources:
            reference: dict[str, Any] = {"reference": self._document(source["shell_file_id"])}
            places = [_place(place) for place in source["places"]]
            if places:
                reference["extension"] = places
            what.append({"role": "source", "what": reference})
        provenance = {
            "resourceType": "Provenance",
            "target": [{"reference": urn}],
            "recorded": self.recorded,
            "agent": [{"who": {"display": "shell file pipeline, profile record"}}],
            "entity": what,
        }
        self.entries.append((self._urn(f"provenance:{name}"), provenance))

    def _document(self, shell_file_id: str) -> str:
        if shell_file_id not in self.documents:
            urn = f"urn:uuid:{uuid.uuid5(uuid.UUID(shell_file_id), 'document')}"
            self.documents[shell_file_id] = urn
            resource = {
                "resourceType": "DocumentReference",
                "status": "current",
                "subject": self.subject,
                "content": [
                    {"attachment": {"url": f"/api/v1/shell-files/{shell_file_id}/content"}}
                ],
            }
            self.entries.append((urn, resource))
        return self.documents[shell_file_id]

    def patient(self) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Patient",
            "id": str(self.profile_id),
            "name": [{"text": self.profile.display_name}],
        }
        if getattr(self.profile, "date_of_birth", None):
            resource["birthDate"] = self.profile.date_of_birth.isoformat()
        return resource

    def medication(self, entry: dict[str, Any]) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "MedicationStatement",
            "status": MEDICATION_STATUS.get(entry["status"], "unknown"),
            "medicationCodeableConcept": codeable(((RXNORM, entry["rxnorm"]),), entry["name"]),
            "subject": self.subject,
        }
        if entry["seen"]["first_seen"]:
            resource["effectivePeriod"] = {"start": entry["seen"]["first_seen"]}
        parts = [
            f"{entry['strength']:g} {entry['strength_unit'] or ''}".strip()
            if entry["strength"] is not None
            else None,
            entry["route"],
            entry["frequency"],
        ]
        text = " ".join(part for part in parts if part)
        if text:
            resource["dosage"] = [{"text": text}]
        if entry["conflict"]:
            doses = sorted(
                {f"{d['strength']} {d['strength_unit'] or ''}".strip() for d in entry["conflict"]}
            )
            date = entry["conflict"][0]["date"]
            resource["note"] = [
                {"text": f"Conflicting doses documented on {date}: {', '.join(doses)}."}
            ]
        return resource

    def condition(self, entry: dict[str, Any]) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Condition",
            "code": codeable(
                ((SNOMED, entry["snomed"]), (ICD10CM, entry["icd10cm"])), entry["name"]
            ),
            "subject": self.subject,
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }
                ]
            },
        }
        if entry["status"] in CONDITION_STATUS:
            resource["clinicalStatus"] = {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": CONDITION_STATUS[entry["status"]],
                    }
                ]
            }
        if entry["onset_date"]:
            resource["onsetDateTime"] = entry["onset_date"]
        return resource

    def allergy(self, entry: dict[str, Any]) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "AllergyIntolerance",
            "code": {"text": entry["substance"]},
            "patient": self.subject,
        }
        reactions = [{"manifestation": [{"text": text}]} for text in entry["reactions"]]
        if reactions and entry["severity"]:
            reactions[-1]["severity"] = entry["severity"]
        if reactions:
            resource["reaction"] = reactions
        return resource

    def immunization(self, entry: dict[str, Any]) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Immunization",
            "status": "completed",
            "vaccineCode": codeable(((CVX, entry["code"]),), entry["name"]),
            "patient": self.subject,
        }
        if entry["date"]:
            resource["occurrenceDateTime"] = entry["date"]
        else:
            resource["occurrenceString"] = "date not stated in the documents"
        return resource

    def procedure(self, entry: dict[str, Any]) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Procedure",
            "status": "completed",
            "code": {"text": entry["name"]},
            "subject": self.subject,
        }
        if entry["date"]:
            resource["performedDateTime"] = entry["date"]
        return resource

    def observation(self, entry: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "status": "preliminary" if point["needs_review"] else "final",
            "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": entry["category"]}]}],
            "code": codeable(((LOINC, code_in_unit(entry["key"], point["unit"])),), entry["name"]),
            "subject": self.subject,
            "effectiveDateTime": point["date"],
        }
        value = quantity(point["value"], point["unit"])
        if value:
            resource["valueQuantity"] = value
        else:
            resource["valueString"] = point["value_text"] or "not stated"
        ranges = {
            name: quantity(point[f"reference_{name}"], point["unit"])
            for name in ("low", "high")
            if point[f"reference_{name}"] is not None
        }
        if ranges:
            resource["referenceRange"] = [ranges]
        if point["flag"]:
            coding = {"system": INTERPRETATION_SYSTEM, "code": point["flag"]}
            resource["interpretation"] = [{"coding": [coding]}]
        notes = []
        if point["needs_review"]:
            why = (point["review_reason"] or "needs_review").replace("_", " ")
            notes.append(f"Needs review ({why}): check this value against the page.")
        if point["undated"]:
            notes.append(UNDATED_NOTE)
        if notes:
            resource["note"] = [{"text": text} for text in notes]
        return resource

    def build(self) -> dict[str, Any]:
        self.entries.append((self.subject["reference"], self.patient()))
        makers = {
            "medications": self.medication,
            "conditions": self.condition,
            "allergies": self.allergy,
            "immunizations": self.immunization,
            "procedures": self.procedure,
        }
        for section, make in makers.items():
            for entry in self.record[section]:
                self._add(f"{section}:{entry['key']}", make(entry), entry["sources"])
        for entry in self.record["observations"]:
            for series in entry["series"]:
                for point in [*series["points"], *series["review"]]:
                    source = point["source"]
                    mention = f"{source['shell_file_id']}:{source['record_id']}"
                    name = f"observations:{entry['key']}:{mention}"
                    self._add(name, self.observation(entry, point), [source])
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "timestamp": self.recorded,
            "entry": [{"fullUrl": urn, "resource": resource} for urn, resource in self.entries],
        }


def _place(place: dict[str, Any]) -> dict[str, Any]:
    box = ",".join(f"{v:.5f}" for v in place["box"]) if place["box"] else ""
    return {
        "url": SOURCE_EXTENSION,
        "extension": [
            {"url": "page", "valueInteger": place["page"]},
            {"url": "box", "valueString": box},
            {"url": "entity", "valueString": place["entity"]},
        ],
    }


def record_bundle(profile: Any, record: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The Bundle as JSON-ready data."""
    return RecordBundle(profile, record).build()
