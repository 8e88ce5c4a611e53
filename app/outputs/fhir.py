"""A document's clinical records as a FHIR R4 Bundle (validated with fhir.resources).

One `collection` Bundle per shell file: a DocumentReference for the document; an
Observation per lab result and vital sign (`final`, or `preliminary` with a note
when the value needs review); a MedicationStatement, Condition,
AllergyIntolerance, Immunization or Procedure per record; and for each record a
Provenance pointing back to the document, with the page and box of every entity
the record came from (as extensions, FHIR having no field for a place on a page).

The resource models are fhir.resources' R4B package: the resources used here are
the same in R4 and R4B. Ids are UUIDs derived from the shell file and record key,
so the same document always yields the same Bundle.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from app.pipeline.ai import types as ai
from app.pipeline.ai.lexicon import default_lexicon

UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CVX = "http://hl7.org/fhir/sid/cvx"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SOURCE_EXTENSION = "https://shellfile-pipeline.invalid/fhir/StructureDefinition/source-location"
# The names of the vital signs profile's observations; their LOINC codes are the
# lexicon's (app/pipeline/ai/data/vitals.csv), as the profile's record keys them.
VITAL_NAMES = {
    "blood_pressure": "Blood pressure panel",
    "heart_rate": "Heart rate",
    "temperature": "Body temperature",
    "respiratory_rate": "Respiratory rate",
    "oxygen_saturation": "Oxygen saturation in Arterial blood",
    "weight": "Body weight",
    "height": "Body height",
    "bmi": "Body mass index (BMI)",
}


def vital_code(vital_type: str) -> str | None:
    concept = default_lexicon().get("vital", vital_type)
    return concept.code if concept else None


MEDICATION_STATUS = {
    "active": "active",
    "new": "active",
    "changed": "active",
    "stopped": "stopped",
    "on_hold": "on-hold",
    "not_taking": "not-taken",
    "intended": "intended",
}
CONDITION_STATUS = {"active": "active", "resolved": "resolved", "history": "inactive"}


def _id(shell_file_id: uuid.UUID, key: str) -> str:
    return str(uuid.uuid5(shell_file_id, key))


def _ref(shell_file_id: uuid.UUID, key: str) -> dict[str, str]:
    return {"reference": f"urn:uuid:{_id(shell_file_id, key)}"}


def _coding(system: str | None, code: str | None, text: str) -> dict[str, Any]:
    return codeable(((system, code),), text)


def codeable(pairs: Iterable[tuple[str | None, str | None]], text: str) -> dict[str, Any]:
    """A CodeableConcept: `text`, and a coding for each (system, code) pair that has both."""
    concept: dict[str, Any] = {"text": text}
    codings = [{"system": system, "code": code} for system, code in pairs if system and code]
    if codings:
        concept["coding"] = codings
    return concept


def quantity(value: float | None, unit: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    quantity: dict[str, Any] = {"value": value}
    if unit:
        quantity |= {"unit": unit, "system": UCUM, "code": unit}
    return quantity


def review_note(record: ai.LabResult | ai.Vital) -> str:
    """The note of a value kept for review: why, and what to do (no document text)."""
    why = (record.review_reason or "needs_review").replace("_", " ")
    note = f"Needs review ({why}): check this value against the page."
    if record.ocr_confidence is not None:
        note += f" OCR confidence {record.ocr_confidence:.2f}."
    return note


class BundleBuilder:
    def __init__(
        self, shell_file: Any, records: ai.ClinicalRecords, entities: list[ai.Entity]
    ) -> None:
        self.sf = shell_file
        self.records = records
        self.entities = {entity.id: entity for entity in entities}
        self.subject = {"reference": f"Patient/{shell_file.patient_id}"}
        self.effective = records.document_date
        self.document_ref = _ref(shell_file.id, "document")

    def _observation(self, record: Any, category: str, code: dict[str, Any]) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": category,
                        }
                    ]
                }
            ],
            "code": code,
            "subject": self.subject,
            "derivedFrom": [self.document_ref],
        }
        if self.effective:
            resource["effectiveDateTime"] = self.effective
        if getattr(record, "needs_review", False):
            resource["status"] = "preliminary"
            resource["note"] = [{"text": review_note(record)}]
        return resource

    def lab(self, record: ai.LabResult) -> dict[str, Any]:
        resource = self._observation(
            record,
            "laboratory",
            _coding(LOINC if record.loinc else None, record.loinc, record.test),
        )
        measured = quantity(record.value, record.unit)
        if measured:
            resource["valueQuantity"] = measured
        else:
            resource["valueString"] = record.value_text
        if record.reference_low is not None or record.reference_high is not None:
            resource["referenceRange"] = [
                {
                    key: quantity(value, record.unit)
                    for key, value in (
                        ("low", record.reference_low),
                        ("high", record.reference_high),
                    )
                    if value is not None
                }
            ]
        if record.abnormal_flag:
            resource["interpretation"] = [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                            "code": record.abnormal_flag,
                        }
                    ]
                }
            ]
        return resource

    def vital(self, record: ai.Vital) -> dict[str, Any]:
        code, display = vital_code(record.type), VITAL_NAMES.get(record.type, record.type)
        resource = self._observation(record, "vital-signs", _coding(LOINC, code, display))
        if record.type == "blood_pressure":
            resource["component"] = [
                {
                    "code": _coding(LOINC, loinc, name),
                    "valueQuantity": quantity(value, record.unit),
                }
                for loinc, name, value in (
                    ("8480-6", "Systolic", record.systolic),
                    ("8462-4", "Diastolic", record.diastolic),
                )
                if value is not None
            ]
        elif record.value is not None:
            resource["valueQuantity"] = quantity(record.value, record.unit)
        return resource

    def medication(self, record: ai.Medication) -> dict[str, Any]:
        system = "http://www.nlm.nih.gov/research/umls/rxnorm" if record.rxnorm else None
        parts = [record.name]
        if record.strength is not None:
            parts.append(f"{record.strength:g} {record.strength_unit or ''}".strip())
        dosage: dict[str, Any] = {
            "text": " ".join(p for p in (*parts[1:], record.route, record.frequency) if p)
            or record.name
        }
        if record.route:
            dosage["route"] = {"text": record.route}
        if record.frequency:
            dosage["timing"] = {"code": {"text": record.frequency}}
        if record.dose is not None:
            dosage["doseAndRate"] = [{"doseQuantity": quantity(record.dose, record.dose_unit)}]
        return {
            "resourceType": "MedicationStatement",
            "status": MEDICATION_STATUS.get(record.status, "unknown"),
            "medicationCodeableConcept": _coding(system, record.rxnorm, " ".join(parts)),
            "subject": self.subject,
            "derivedFrom": [self.document_ref],
            "dosage": [dosage],
        }

    def condition(self, record: ai.Condition) -> dict[str, Any] | None:
        if record.status == "family":
            return None  # a relative's condition is FamilyMemberHistory, not the patient's
        resource: dict[str, Any] = {
            "resourceType": "Condition",
            "code": codeable(((SNOMED, record.code), (ICD10CM, record.icd10cm)), record.name),
            "subject": self.subject,
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "refuted" if record.status == "negated" else "confirmed",
                    }
                ]
            },
        }
        if record.status in CONDITION_STATUS:
            resource["clinicalStatus"] = {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": CONDITION_STATUS[record.status],
                    }
                ]
            }
        if record.onset_date:
            resource["onsetDateTime"] = record.onset_date
        return resource

    def allergy(self, record: ai.Allergy) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "AllergyIntolerance",
            "code": {"text": record.substance},
            "patient": self.subject,
        }
        if record.reaction:
            reaction: dict[str, Any] = {"manifestation": [{"text": record.reaction}]}
            if record.severity in ("mild", "moderate", "severe"):
                reaction["severity"] = record.severity
            resource["reaction"] = [reaction]
        return resource

    def immunization(self, record: ai.Immunization) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Immunization",
            "status": "completed",
            "vaccineCode": _coding(CVX, record.cvx, record.vaccine),
            "patient": self.subject,
        }
        if record.date:
            resource["occurrenceDateTime"] = record.date
        else:
            resource["occurrenceString"] = "date not stated in the document"
        return resource

    def procedure(self, record: ai.Procedure) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Procedure",
            "status": "completed",
            "code": {"text": record.name},
            "subject": self.subject,
        }
        if record.date:
            resource["performedDateTime"] = record.date
        return resource

    def provenance(self, record: Any) -> dict[str, Any]:
        locations = []
        for entity_id in record.entity_ids:
            entity = self.entities.get(entity_id)
            if entity is None or entity.page is None:
                continue
            box = ",".join(f"{v:.5f}" for v in entity.box) if entity.box else ""
            locations.append(
                {
                    "url": SOURCE_EXTENSION,
                    "extension": [
                        {"url": "page", "valueInteger": entity.page},
                        {"url": "box", "valueString": box},
                        {"url": "entity", "valueString": entity.id},
                    ],
                }
            )
        what: dict[str, Any] = dict(self.document_ref)
        if locations:
            what["extension"] = locations
        return {
            "resourceType": "Provenance",
            "target": [_ref(self.sf.id, record.id)],
            "recorded": datetime.now(UTC).isoformat(timespec="seconds"),
            "agent": [{"who": {"display": "shell file pipeline, AI lane"}}],
            "entity": [{"role": "source", "what": what}],
        }

    def document(self) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "DocumentReference",
            "status": "current",
            "subject": self.subject,
            "content": [
                {
                    "attachment": {
                        "contentType": self.sf.mime_type,
                        "url": f"/api/v1/shell-files/{self.sf.id}/content",
                        "size": self.sf.file_size_bytes,
                        "title": self.sf.original_filename,
                    }
                }
            ],
        }
        if self.effective:
            resource["context"] = {"period": {"start": self.effective}}
        return resource

    def build(self) -> Bundle:
        entries = [(self.document_ref, self.document())]
        makers = {
            ai.LabResult: self.lab,
            ai.Vital: self.vital,
            ai.Medication: self.medication,
            ai.Condition: self.condition,
            ai.Allergy: self.allergy,
            ai.Immunization: self.immunization,
            ai.Procedure: self.procedure,
        }
        provenance = []
        for record in self.records.all_records():
            resource = makers[type(record)](record)  # type: ignore[operator]
            if resource is None:
                continue
            entries.append((_ref(self.sf.id, record.id), resource))
            provenance.append(
                (_ref(self.sf.id, f"provenance:{record.id}"), self.provenance(record))
            )
        entries += provenance
        return Bundle.model_validate(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
                "entry": [
                    {"fullUrl": ref["reference"], "resource": resource} for ref, resource in entries
                ],
            }
        )


def records_bundle(
    shell_file: Any, records: ai.ClinicalRecords, entities: list[ai.Entity]
) -> dict[str, Any]:
    """The Bundle as JSON-ready data; raises pydantic's ValidationError if it is not valid."""
    bundle = BundleBuilder(shell_file, records, entities).build()
    data: dict[str, Any] = bundle.model_dump(mode="json", exclude_none=True)
    return data
