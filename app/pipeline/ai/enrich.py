"""Pass 2 of the local provider: entities into normalised clinical records.

Each record is read from its entity's own text (the name and the values Pass 1
kept with it) plus, where the entity alone cannot say, its sentence: a medicine's
status ("stopped", "started"), a condition's onset, the date of a vaccine or an
operation. Facts stated twice (metformin in the letter and in the medication
list) are merged into one record citing both entities and keeping every known
field; measurements are never merged, since two equal readings are two readings.

What becomes no record: mentions about the family (other than conditions, which
are kept as family history), hypothetical mentions, negated allergies,
vaccinations and procedures ("no known drug allergies"), and the two entity types
the record schema has no place for (observation, physical_finding).

Each kind's record is built in its own module (`medication_records.py`,
`measurement_records.py`, `history_records.py`, over `record_reader.py`); this
module runs them, merges what is stated twice and numbers the records.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from app.pipeline.ai.documents import dates_of, kind_of
from app.pipeline.ai.history_records import allergy, condition, immunization, procedure
from app.pipeline.ai.lexicon import Lexicon
from app.pipeline.ai.measurement_records import lab_result, vital_sign
from app.pipeline.ai.medication_records import medication
from app.pipeline.ai.record_reader import RecordReader
from app.pipeline.ai.types import ClinicalRecords, Entity, Record
from app.pipeline.ai.vocabulary import Vocabulary
from app.pipeline.layout import DocumentText

MEASURED = frozenset({"lab_result", "vital_sign"})


class Enricher(RecordReader):
    """Builds the records of one document from its entities."""

    def records(self, entities: list[Entity]) -> ClinicalRecords:
        built: dict[str, list[Record]] = {kind: [] for kind in _BUILDERS}
        for entity in sorted(entities, key=lambda e: (e.start, e.end)):
            builder = _BUILDERS.get(entity.type)
            if builder is None or entity.hypothetical:
                continue
            record = builder[1](self, entity)
            if record is not None:
                built[entity.type].append(record)
        merged: dict[str, Any] = {
            kind: _numbered(items if kind in MEASURED else _merge(items), _BUILDERS[kind][0])
            for kind, items in built.items()
        }
        document_date, service_dates = dates_of(self.doc.text, day_first=self.day_first)
        records = ClinicalRecords(
            document_date=document_date,
            service_dates=service_dates,
            medications=merged["medication"],
            lab_results=merged["lab_result"],
            vitals=merged["vital_sign"],
            conditions=merged["condition"],
            allergies=merged["allergy"],
            immunizations=merged["immunization"],
            procedures=merged["procedure"],
        )
        lines = [self.doc.text[line.start : line.end] for line in self.analysis.lines]
        return dataclasses.replace(records, document_kind=kind_of(lines, records))


_BUILDERS: dict[str, tuple[str, Callable[[RecordReader, Entity], Any]]] = {
    "medication": ("m", medication),
    "lab_result": ("l", lab_result),
    "vital_sign": ("v", vital_sign),
    "condition": ("c", condition),
    "allergy": ("a", allergy),
    "immunization": ("i", immunization),
    "procedure": ("p", procedure),
}


def _merge(records: list[Record]) -> list[Record]:
    """Records that agree on every field both know become one, citing all their entities.

    Only records of one name can agree, so each is compared with those of its name alone.
    """
    merged: list[Record] = []
    by_name: dict[Any, list[int]] = {}
    for record in records:
        places = by_name.setdefault(_key_of(record), [])
        for index in places:
            combined = _combine(merged[index], record)
            if combined is not None:
                merged[index] = combined
                break
        else:
            places.append(len(merged))
            merged.append(record)
    return merged


def _key_of(record: Record) -> Any:
    """The value of a record's first field after its id and entities (its name)."""
    key = next(f.name for f in dataclasses.fields(record) if f.name not in ("id", "entity_ids"))
    return type(record), getattr(record, key)


def _combine(a: Record, b: Record) -> Record | None:
    if type(a) is not type(b):
        return None
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(a):
        if spec.name in ("id", "entity_ids"):
            continue
        left, right = getattr(a, spec.name), getattr(b, spec.name)
        if left is not None and right is not None and left != right:
            return None
        values[spec.name] = left if left is not None else right
    key = next(f.name for f in dataclasses.fields(a) if f.name not in ("id", "entity_ids"))
    if getattr(a, key) != getattr(b, key):
        return None
    return dataclasses.replace(a, entity_ids=(*a.entity_ids, *b.entity_ids), **values)


def _numbered(records: list[Record], prefix: str) -> tuple[Record, ...]:
    return tuple(
        dataclasses.replace(record, id=f"{prefix}{number}")
        for number, record in enumerate(records, start=1)
    )


def enrich(
    doc: DocumentText,
    entities: list[Entity],
    lexicon: Lexicon,
    *,
    day_first: bool = True,
    vocabulary: Vocabulary | None = None,
) -> ClinicalRecords:
    """The clinical records of `doc`, each citing the entities it came from.

    Entities of another provider are welcome: names the lexicon does not know are
    named by the `vocabulary` (medicines and vaccines) or kept as written (lower case)
    without a code. Never raises on any text.
    """
    return Enricher(doc, lexicon, day_first=day_first, vocabulary=vocabulary).records(entities)
