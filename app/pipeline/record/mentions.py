"""A document's contribution to the profile's record: its records as *mentions*.

A mention is one Pass 2 record that speaks of the person, with the key of the entry it
merges into and where it came from (document, date, pages and boxes). Records whose
entities are negated, about a relative or hypothetical ("denies chest pain", "mother had
diabetes", "return if rash") are not the person's and make no mention.

Keys, one rule per section:

- medications: `rxnorm:<code>`, the record's or, for a name the lexicon knows (a brand,
  a salt, another spelling), its ingredient's; else `name:<name, normalised>`;
- conditions: `snomed:<code>`, the record's or the lexicon's for its name; else
  `icd10cm:<code>`, else the normalised name;
- allergies: the substance, normalised, by the lexicon's name for it if it knows it;
- immunizations and procedures: the vaccine's CVX code (else its name) or the procedure's
  name, and the date it was given or done (`?` when the document does not say);
- observations: the test's LOINC code (a test the lexicon lists with a code per unit,
  such as HbA1c in mmol/mol and %, takes its first code, so both are one series), else
  `name:<test>`; a blood pressure is two series, systolic and diastolic.
"""

from __future__ import annotations

import functools
import operator
import re
from dataclasses import dataclass
from typing import Any

from app.pipeline.ai import types as ai
from app.pipeline.ai.lexicon import default_lexicon

SECTIONS: tuple[str, ...] = (
    "medications",
    "conditions",
    "allergies",
    "immunizations",
    "procedures",
    "observations",
)
SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"
NOT_THE_PERSONS = frozenset({"negated", "family"})  # condition statuses


@dataclass(frozen=True)
class Place:
    """Where on a page a mention's words are: page number, box (0-1), entity id."""

    page: int
    box: ai.Box | None
    entity: str


#: How mentions are ordered in time: a source's date, then upload, then ids.
SOURCE_ORDER = ("date", "uploaded_at", "shell_file_id", "record_id")
_in_order = operator.attrgetter(*SOURCE_ORDER)


@dataclass(frozen=True)
class Source:
    """The document a mention came from, and how it is placed in time.

    `date` orders mentions: the document's date, or for an undated document (`undated`)
    the day it was uploaded. `uploaded_at` (ISO 8601) breaks ties and orders undated ones.
    """

    shell_file_id: str
    record_id: str
    date: str
    undated: bool
    uploaded_at: str
    places: tuple[Place, ...] = ()

    def order(self) -> tuple[str, ...]:
        return _in_order(self)


@dataclass(frozen=True)
class Mention:
    section: str  # one of SECTIONS
    key: str
    source: Source
    record: ai.Record


@dataclass(frozen=True)
class Seen:
    """When an entry was documented: first and last dates of dated mentions (None when
    every mention is undated, `undated` then True)."""

    first_seen: str | None
    last_seen: str | None
    undated: bool


def seen(mentions: list[Mention]) -> Seen:
    dated = [m.source.date for m in mentions if not m.source.undated]
    if not dated:
        return Seen(None, None, True)
    return Seen(min(dated), max(dated), False)


@dataclass(frozen=True)
class DocumentInfo:
    """What the merge needs to know of a document besides its records."""

    shell_file_id: str
    uploaded_at: str  # ISO 8601
    document_date: str | None


def normalise(name: str) -> str:
    """A name as a key: lower case, one space between words, no punctuation at the ends."""
    return re.sub(r"[\s\-_,;:]+", " ", name.lower()).strip(" .")


@functools.cache
def _test_aliases() -> dict[str, str]:
    """Every LOINC code of a lab test the lexicon knows, to the test's first code."""
    aliases: dict[str, str] = {}
    for concept in default_lexicon().concepts.values():
        codes = [unit.loinc for unit in concept.units if unit.loinc]
        for code in codes:
            aliases.setdefault(code, codes[0])
    return aliases


def series_key(code: str) -> str:
    """The key of the series a code (any of a test's LOINC codes, or a key) names."""
    return _test_aliases().get(code, code)


@functools.cache
def _unit_codes() -> dict[tuple[str, str], str]:
    codes: dict[tuple[str, str], str] = {}
    for concept in default_lexicon().concepts.values():
        coded = [unit for unit in concept.units if unit.loinc]
        for unit in coded:
            codes.setdefault((str(coded[0].loinc), unit.unit.strip().lower()), str(unit.loinc))
    return codes


def code_in_unit(key: str, unit: str | None) -> str | None:
    """The LOINC code of the test `key` reported in `unit`, for a test the lexicon lists
    with a code per unit (HbA1c in % is 4548-4, in mmol/mol 59261-8); else the key itself
    when it is a code, None for a test keyed by name."""
    if key.startswith(("name:", "vital:")):
        return None
    return _unit_codes().get((key, (unit or "").strip().lower()), key)


@functools.cache
def _vital_code(vital_type: str) -> str | None:
    concept = default_lexicon().get("vital", vital_type)
    return concept.code if concept else None


def observation_keys(record: ai.LabResult | ai.Vital) -> tuple[str, ...]:
    if isinstance(record, ai.LabResult):
        return (series_key(record.loinc) if record.loinc else f"name:{normalise(record.test)}",)
    if record.type == "blood_pressure":
        return tuple(
            key
            for key, value in ((SYSTOLIC, record.systolic), (DIASTOLIC, record.diastolic))
            if value is not None
        )
    return (_vital_code(record.type) or f"vital:{record.type}",)


def _event_key(name: str, date: str | None) -> str:
    return f"{name}|{date or '?'}"


@functools.cache
def _code_of(kind: str, name: str) -> str | None:
    concept = default_lexicon().named(kind, name)
    return concept.code if concept and concept.code else None


@functools.cache
def _allergen(substance: str) -> str:
    concept = default_lexicon().named("allergen", substance) or default_lexicon().named(
        "medication", substance
    )
    return normalise(concept.name if concept else substance)


def _medication_key(record: ai.Medication) -> str:
    code = record.rxnorm or _code_of("medication", record.name.strip(" .,;:"))
    return f"rxnorm:{code}" if code else f"name:{normalise(record.name)}"


def _condition_key(record: ai.Condition) -> str:
    code = record.code or (
        None if record.icd10cm else _code_of("condition", record.name.strip(" .,;:"))
    )
    if code:
        return f"snomed:{code}"
    if record.icd10cm:
        return f"icd10cm:{record.icd10cm}"
    return f"name:{normalise(record.name)}"


def keys_of(record: ai.Record) -> tuple[str, tuple[str, ...]]:
    """The section a record merges into and its key(s) there."""
    if isinstance(record, ai.Medication):
        return "medications", (_medication_key(record),)
    if isinstance(record, ai.Condition):
        return "conditions", (_condition_key(record),)
    if isinstance(record, ai.Allergy):
        return "allergies", (_allergen(record.substance),)
    if isinstance(record, ai.Immunization):
        vaccine = f"cvx:{record.cvx}" if record.cvx else normalise(record.vaccine)
        return "immunizations", (_event_key(vaccine, record.date),)
    if isinstance(record, ai.Procedure):
        return "procedures", (_event_key(normalise(record.name), record.date),)
    return "observations", observation_keys(record)


def is_the_persons(record: ai.Record, entities: dict[str, ai.Entity]) -> bool:
    """False for a record about someone else or about what did not or may not happen."""
    if isinstance(record, ai.Condition) and record.status in NOT_THE_PERSONS:
        return False
    cited = [entities[e] for e in record.entity_ids if e in entities]
    return not any(e.negated or e.family or e.hypothetical for e in cited)


def _places(record: ai.Record, entities: dict[str, ai.Entity]) -> tuple[Place, ...]:
    cited = [entities[e] for e in record.entity_ids if e in entities]
    return tuple(Place(e.page, e.box, e.id) for e in cited if e.page is not None)


def document_mentions(
    document: DocumentInfo, records: ai.ClinicalRecords, entities: list[ai.Entity]
) -> list[Mention]:
    """The document's mentions, in record order: what it adds to the person's record."""
    by_id = {entity.id: entity for entity in entities}
    undated = document.document_date is None
    date = document.document_date or document.uploaded_at[:10]
    mentions = []
    for record in records.all_records():
        if not is_the_persons(record, by_id):
            continue
        source = Source(
            document.shell_file_id,
            record.id,
            date,
            undated,
            document.uploaded_at,
            _places(record, by_id),
        )
        section, keys = keys_of(record)
        mentions += [Mention(section, key, source, record) for key in keys]
    return mentions


_RECORD_CLASSES = ai.RECORD_CLASSES
_RECORD_TYPES = {cls: name for name, cls in _RECORD_CLASSES.items()}


def mention_to_json(mention: Mention) -> dict[str, Any]:
    """A mention as plain data (`mention_from_json` reads it back)."""
    return {
        "section": mention.section,
        "key": mention.key,
        "source": ai.to_json(mention.source),
        "record_type": _RECORD_TYPES[type(mention.record)],
        "record": ai.to_json(mention.record),
    }


def mention_from_json(data: dict[str, Any]) -> Mention:
    """A mention from `mention_to_json`'s data, built directly (a profile's entry may have
    thousands: the checked `ai.from_json` would cost more than the merge). Raises
    ValueError (or KeyError, TypeError) for data that is not a mention of this version."""
    record_class = _RECORD_CLASSES.get(data.get("record_type", ""))
    if record_class is None:
        raise ValueError("mention: unknown record type")
    source = dict(data["source"])
    source["places"] = tuple(
        Place(p["page"], tuple(p["box"]) if p["box"] else None, p["entity"])
        for p in source["places"]
    )
    record = dict(data["record"])
    record["entity_ids"] = tuple(record["entity_ids"])
    return Mention(data["section"], data["key"], Source(**source), record_class(**record))
