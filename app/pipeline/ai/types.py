"""What the AI lane produces: entities (Pass 1), clinical records (Pass 2), a narrative (Pass 3).

Every type is a frozen dataclass of JSON-friendly fields. `to_json(value)` turns any of
them (or a list of them) into plain dicts and lists; `from_json(cls, data)` turns such
data back into the dataclass, checking field names, so a row saved by one version and
read by another fails loudly rather than silently losing a field.

Ids are deterministic: entities are "e1", "e2", ... in text order; records take a
prefix per kind ("m" medications, "l" lab results, "v" vitals, "c" conditions,
"a" allergies, "i" immunizations, "p" procedures) and number in document order.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

Box = tuple[float, float, float, float]  # x0, y0, x1, y1, normalised 0-1, top-left origin

ENTITY_TYPES: tuple[str, ...] = (
    "medication",
    "condition",
    "procedure",
    "observation",  # symptoms and history the patient reports (chest pain, smoker)
    "allergy",
    "lab_result",
    "vital_sign",
    "physical_finding",  # what an examiner sees or hears (crackles, oedema, murmur)
    "immunization",
)
VITAL_TYPES: tuple[str, ...] = (
    "blood_pressure",
    "heart_rate",
    "temperature",
    "respiratory_rate",
    "oxygen_saturation",
    "weight",
    "height",
    "bmi",
)
CONDITION_STATUSES: tuple[str, ...] = ("active", "resolved", "history", "negated", "family")
MEDICATION_STATUSES: tuple[str, ...] = (
    "active",
    "new",
    "changed",
    "stopped",
    "on_hold",
    "not_taking",
    "intended",
)
ABNORMAL_FLAGS: tuple[str, ...] = ("H", "L", "N")
NARRATIVE_KINDS: tuple[str, ...] = (
    "lab_report",
    "discharge_summary",
    "medication_list",
    "clinic_letter",
    "vitals_record",
    "other",
)


@dataclass(frozen=True)
class Entity:
    """A clinical mention in the document text: `text == doc.text[start:end]`.

    For medications, lab results and vital signs the span covers the values that
    belong to the mention ("Metformin 500 mg twice daily", "Potassium 5.9 mmol/L H",
    "BP 142/91 mmHg"); for allergies it covers the reaction when one is attached
    ("Penicillin - rash"); for the other types it is the name alone.
    """

    id: str
    type: str
    text: str
    start: int
    end: int
    page: int | None
    box: Box | None
    confidence: float  # 0-1
    negated: bool = False
    historical: bool = False
    family: bool = False
    hypothetical: bool = False
    section: str | None = None
    # How it was found: lexicon (the curated lists), vocabulary (the large drug and
    # disease vocabularies), pattern (the form of its words or values), section (an item
    # of a list under a heading), fuzzy (a name read through OCR's confusions), or model.
    found_by: str = "lexicon"
    ocr_confidence: float | None = None  # mean OCR confidence (0-1) of its words; None: no OCR


@dataclass(frozen=True)
class Medication:
    id: str
    entity_ids: tuple[str, ...]
    name: str
    strength: float | None = None
    strength_unit: str | None = None  # UCUM: mg, g, ug, mL, [iU], mg/mL
    dose: float | None = None
    dose_unit: str | None = None  # UCUM or annotation: {tablet}, {puff}, [iU], mL
    route: str | None = None  # oral, intravenous, inhaled, subcutaneous, ...
    frequency: str | None = None  # "twice daily", "every 6 hours", "as needed", ...
    status: str = "active"  # one of MEDICATION_STATUSES
    rxnorm: str | None = None


@dataclass(frozen=True)
class LabResult:
    id: str
    entity_ids: tuple[str, ...]
    test: str
    value: float | None
    value_text: str  # as printed, e.g. "<0.5" or "135"
    unit: str | None = None  # UCUM: g/L, mmol/L, 10*9/L, %
    reference_low: float | None = None
    reference_high: float | None = None
    abnormal_flag: str | None = None  # "H", "L", "N" or None when nothing says
    loinc: str | None = None
    needs_review: bool = False  # implausible or read weakly: check it against the page
    review_reason: str | None = None  # see plausibility.REVIEW_REASONS
    ocr_confidence: float | None = None  # 0-1, of the words the value was read from


@dataclass(frozen=True)
class Vital:
    id: str
    entity_ids: tuple[str, ...]
    type: str  # one of VITAL_TYPES
    value: float | None  # None for blood pressure, which has systolic and diastolic
    unit: str  # UCUM: mm[Hg], /min, Cel, %, kg, cm, kg/m2
    systolic: float | None = None
    diastolic: float | None = None
    needs_review: bool = False
    review_reason: str | None = None  # see plausibility.REVIEW_REASONS
    ocr_confidence: float | None = None  # 0-1


@dataclass(frozen=True)
class Condition:
    id: str
    entity_ids: tuple[str, ...]
    name: str
    status: str  # one of CONDITION_STATUSES
    onset_date: str | None = None  # ISO 8601, possibly reduced ("2019", "2019-03")
    code: str | None = None  # SNOMED CT concept id
    icd10cm: str | None = None  # ICD-10-CM code, e.g. "I10"


@dataclass(frozen=True)
class Allergy:
    id: str
    entity_ids: tuple[str, ...]
    substance: str
    reaction: str | None = None
    severity: str | None = None  # "mild", "moderate", "severe"


@dataclass(frozen=True)
class Immunization:
    id: str
    entity_ids: tuple[str, ...]
    vaccine: str
    date: str | None = None  # ISO 8601
    cvx: str | None = None  # CDC CVX code, e.g. "115" (Tdap)


@dataclass(frozen=True)
class Procedure:
    id: str
    entity_ids: tuple[str, ...]
    name: str
    date: str | None = None  # ISO 8601, possibly reduced ("2010")


Record = Medication | LabResult | Vital | Condition | Allergy | Immunization | Procedure

#: Each kind of record by the name its rows carry (`clinical_records.record_type`).
RECORD_CLASSES: dict[str, type] = {
    "medication": Medication,
    "lab_result": LabResult,
    "vital": Vital,
    "condition": Condition,
    "allergy": Allergy,
    "immunization": Immunization,
    "procedure": Procedure,
}


@dataclass(frozen=True)
class ClinicalRecords:
    """Pass 2: what the document says, as records that each cite their entities.

    `document_kind` is Pass 2's reading of what sort of document this is (it sees
    the title lines; Pass 3 does not see the document).
    """

    document_date: str | None = None  # ISO 8601
    service_dates: tuple[str, ...] = ()
    medications: tuple[Medication, ...] = ()
    lab_results: tuple[LabResult, ...] = ()
    vitals: tuple[Vital, ...] = ()
    conditions: tuple[Condition, ...] = ()
    allergies: tuple[Allergy, ...] = ()
    immunizations: tuple[Immunization, ...] = ()
    procedures: tuple[Procedure, ...] = ()
    document_kind: str | None = None  # one of NARRATIVE_KINDS

    def all_records(self) -> tuple[Record, ...]:
        """Every record, kind by kind, in id order within each kind."""
        return (
            *self.medications,
            *self.lab_results,
            *self.vitals,
            *self.conditions,
            *self.allergies,
            *self.immunizations,
            *self.procedures,
        )

    def record_ids(self) -> set[str]:
        return {record.id for record in self.all_records()}


@dataclass(frozen=True)
class Statement:
    text: str
    record_ids: tuple[str, ...]  # at least one


@dataclass(frozen=True)
class Narrative:
    kind: str  # one of NARRATIVE_KINDS
    document_date: str | None
    summary: str  # the statements' texts joined with spaces
    statements: tuple[Statement, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Usage:
    """What one pass cost: requests, tokens and an estimate in US dollars."""

    provider: str
    model: str
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    # Characters of prompt sent to a remote service (the local provider sends none).
    characters_sent: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.provider,
            self.model,
            self.requests + other.requests,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            round(self.cost_usd + other.cost_usd, 8),
            self.characters_sent + other.characters_sent,
        )


T = TypeVar("T")


def to_json(value: Any) -> Any:
    """Plain dicts, lists and scalars for any of these dataclasses (or lists of them)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    return value


def from_json(cls: type[T], data: Any) -> T:
    """The dataclass `cls` built from `to_json` output.

    Raises ValueError when a field is missing (and has no default), unknown, or of
    the wrong shape.
    """
    return typing.cast(T, _load(cls, data, cls.__name__))


def entities_from_json(data: Any) -> list[Entity]:
    if not isinstance(data, list):
        raise ValueError("entities: expected a list")
    return [from_json(Entity, item) for item in data]


def _load(hint: Any, data: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _load_dataclass(hint, data, where)
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return _load_union(hint, data, where)
    if origin is tuple:
        return _load_tuple(hint, data, where)
    if hint is float and isinstance(data, int | float) and not isinstance(data, bool):
        return float(data)
    if hint in (str, int, bool) and type(data) is hint:
        return data
    raise ValueError(f"{where}: expected {getattr(hint, '__name__', hint)}")


def _load_union(hint: Any, data: Any, where: str) -> Any:
    options = typing.get_args(hint)
    if data is None and type(None) in options:
        return None
    for option in options:
        if option is type(None):
            continue
        try:
            return _load(option, data, where)
        except ValueError:
            continue
    raise ValueError(f"{where}: no type of {hint} fits")


def _load_tuple(hint: Any, data: Any, where: str) -> tuple[Any, ...]:
    if not isinstance(data, list | tuple):
        raise ValueError(f"{where}: expected a list")
    args = typing.get_args(hint)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_load(args[0], item, f"{where}[{i}]") for i, item in enumerate(data))
    if len(args) != len(data):
        raise ValueError(f"{where}: expected {len(args)} items")
    pairs = enumerate(zip(args, data, strict=True))
    return tuple(_load(a, item, f"{where}[{i}]") for i, (a, item) in pairs)


@functools.cache
def _shape(cls: type) -> tuple[dict[str, Any], dict[str, dataclasses.Field[Any]]]:
    """A dataclass's field types and fields (`get_type_hints` evaluates every annotation
    again on each call: a document's records would pay for it record by record)."""
    return typing.get_type_hints(cls), {f.name: f for f in dataclasses.fields(cls)}


def _load_dataclass(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object")
    hints, fields = _shape(cls)
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"{where}: unknown fields {sorted(unknown)}")
    kwargs = {}
    for name, spec in fields.items():
        if name in data:
            kwargs[name] = _load(hints[name], data[name], f"{where}.{name}")
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise ValueError(f"{where}: missing field {name!r}")
    return cls(**kwargs)
