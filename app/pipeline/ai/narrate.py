"""Pass 3 of the local provider: a short narrative from the records, by templates.

It reads only the records (never the document), and every statement names the
records it rests on, so each sentence a person reads can be traced to the
entities, and through them to the boxes on the page. The first statement says
what the document is and how much it holds; the rest go group by group (results,
vital signs, conditions, medicines, allergies, immunisations, procedures), in an
order that suits the kind of document. Long groups are split into statements of
at most `MAX_ITEMS` records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from app.pipeline.ai.dates import display_date
from app.pipeline.ai.types import (
    Allergy,
    ClinicalRecords,
    Condition,
    Immunization,
    LabResult,
    Medication,
    Narrative,
    Procedure,
    Record,
    Statement,
    Vital,
)

MAX_ITEMS = 8
KIND_NAMES = {
    "lab_report": "Laboratory report",
    "discharge_summary": "Discharge summary",
    "medication_list": "Medication list",
    "clinic_letter": "Clinic letter",
    "vitals_record": "Vital signs record",
    "other": "Document",
}
ORDER = {
    "lab_report": ("labs", "conditions", "vitals", "medications"),
    "discharge_summary": ("conditions", "medications", "labs", "vitals"),
    "medication_list": ("medications", "conditions", "labs", "vitals"),
    "vitals_record": ("vitals", "labs", "conditions", "medications"),
    "clinic_letter": ("conditions", "labs", "vitals", "medications"),
    "other": ("conditions", "medications", "labs", "vitals"),
}
UNIT_NAMES = {"mm[Hg]": "mmHg", "Cel": "\u00b0C", "/min": "/min", "10*9/L": "x10^9/L"}
VITAL_NAMES = {
    "blood_pressure": "blood pressure",
    "heart_rate": "heart rate",
    "temperature": "temperature",
    "respiratory_rate": "respiratory rate",
    "oxygen_saturation": "oxygen saturation",
    "weight": "weight",
    "height": "height",
    "bmi": "BMI",
}
FLAG_NAMES = {"H": "high", "L": "low"}
MEDICATION_GROUPS = (
    ("active", "Medicines"),
    ("new", "Started"),
    ("changed", "Changed"),
    ("on_hold", "Withheld"),
    ("stopped", "Stopped"),
    ("not_taking", "Not taking"),
    ("intended", "Planned"),
)
CONDITION_GROUPS = (
    ("active", "Conditions"),
    ("history", "Past history"),
    ("resolved", "Resolved"),
    ("family", "Family history"),
    ("negated", "Recorded as absent"),
)


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:g}"


def _unit(unit: str | None) -> str:
    if not unit:
        return ""
    shown = UNIT_NAMES.get(unit, unit)
    return shown if shown.startswith(("/", "%", "\u00b0")) else f" {shown}"


def _statements(
    label: str, records: Sequence[Any], describe: Callable[[Any], str]
) -> list[Statement]:
    """ "Label: a; b; c." in chunks of MAX_ITEMS, each citing its records."""
    out = []
    for first in range(0, len(records), MAX_ITEMS):
        chunk = records[first : first + MAX_ITEMS]
        text = f"{label}: " + "; ".join(describe(record) for record in chunk) + "."
        out.append(Statement(text, tuple(record.id for record in chunk)))
    return out


def describe_lab(lab: LabResult) -> str:
    value = lab.value_text or _number(lab.value)
    text = f"{lab.test} {value}{_unit(lab.unit)}".strip()
    notes = []
    if lab.abnormal_flag in FLAG_NAMES:
        notes.append(FLAG_NAMES[lab.abnormal_flag])
    if lab.reference_low is not None and lab.reference_high is not None:
        notes.append(f"range {_number(lab.reference_low)}-{_number(lab.reference_high)}")
    return f"{text} ({', '.join(notes)})" if notes else text


def describe_vital(vital: Vital) -> str:
    name = VITAL_NAMES.get(vital.type, vital.type)
    if vital.type == "blood_pressure":
        reading = f"{_number(vital.systolic)}/{_number(vital.diastolic)}"
    else:
        reading = _number(vital.value)
    return f"{name} {reading}{_unit(vital.unit)}"


def describe_medication(medication: Medication) -> str:
    parts = [medication.name]
    if medication.strength is not None:
        parts.append(f"{_number(medication.strength)}{_unit(medication.strength_unit)}".strip())
    if medication.dose is not None:
        form = (medication.dose_unit or "").strip("{}")
        parts.append(f"{_number(medication.dose)} {form}".strip())
    for extra in (medication.route, medication.frequency):
        if extra:
            parts.append(extra)
    return " ".join(parts)


def describe_condition(condition: Condition) -> str:
    if condition.onset_date:
        return f"{condition.name} (since {display_date(condition.onset_date)})"
    return condition.name


def describe_allergy(allergy: Allergy) -> str:
    notes = [note for note in (allergy.reaction, allergy.severity) if note]
    return f"{allergy.substance} ({', '.join(notes)})" if notes else allergy.substance


def describe_dated(record: Immunization | Procedure) -> str:
    name = record.vaccine if isinstance(record, Immunization) else record.name
    return f"{name} ({display_date(record.date)})" if record.date else name


def _labs(records: ClinicalRecords) -> list[Statement]:
    abnormal = [lab for lab in records.lab_results if lab.abnormal_flag in ("H", "L")]
    normal = [lab for lab in records.lab_results if lab.abnormal_flag == "N"]
    other = [lab for lab in records.lab_results if lab.abnormal_flag not in ("H", "L", "N")]
    return (
        _statements("Results outside the reference range", abnormal, describe_lab)
        + _statements("Results within range", normal, describe_lab)
        + _statements("Other results", other, describe_lab)
    )


def _grouped(
    records: Sequence[Any], groups: Sequence[tuple[str, str]], describe: Callable[[Any], str]
) -> list[Statement]:
    out = []
    for status, label in groups:
        out += _statements(label, [r for r in records if r.status == status], describe)
    return out


SECTIONS: dict[str, Callable[[ClinicalRecords], list[Statement]]] = {
    "labs": _labs,
    "vitals": lambda r: _statements("Vital signs", r.vitals, describe_vital),
    "conditions": lambda r: _grouped(r.conditions, CONDITION_GROUPS, describe_condition),
    "medications": lambda r: _grouped(r.medications, MEDICATION_GROUPS, describe_medication),
}


def _opening(kind: str, records: ClinicalRecords, cited: Sequence[Record]) -> Statement:
    counts = [
        (len(records.medications), "medicine"),
        (len(records.lab_results), "test result"),
        (len(records.vitals), "vital sign"),
        (len(records.conditions), "condition"),
        (len(records.allergies), "allergy"),
        (len(records.immunizations), "immunisation"),
        (len(records.procedures), "procedure"),
    ]
    listed = [f"{n} {name if n == 1 else _plural(name)}" for n, name in counts if n]
    dated = f" dated {display_date(records.document_date)}" if records.document_date else ""
    text = f"{KIND_NAMES.get(kind, 'Document')}{dated} recording {_join(listed)}."
    return Statement(text, tuple(record.id for record in cited))


def _plural(name: str) -> str:
    return name[:-1] + "ies" if name.endswith("y") else name + "s"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def narrate(records: ClinicalRecords, kind: str | None = None) -> Narrative:
    """The narrative of `records`; `kind` defaults to the records' document kind.

    A document with no records gets an empty narrative (no statements). Never raises.
    """
    kind = kind or records.document_kind or "other"
    everything = records.all_records()
    if not everything:
        return Narrative(kind, records.document_date, "", ())
    statements = [_opening(kind, records, everything)]
    for section in ORDER.get(kind, ORDER["other"]):
        statements += SECTIONS[section](records)
    statements += _statements("Allergies", records.allergies, describe_allergy)
    statements += _statements("Immunisations", records.immunizations, describe_dated)
    statements += _statements("Procedures", records.procedures, describe_dated)
    summary = " ".join(statement.text for statement in statements)
    return Narrative(kind, records.document_date, summary, tuple(statements))
