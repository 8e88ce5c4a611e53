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
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from typing import Any

from app.pipeline.ai.context import Context
from app.pipeline.ai.dates import find_dates, find_reduced_dates
from app.pipeline.ai.documents import dates_of, kind_of
from app.pipeline.ai.doses import parse_sig, route_before
from app.pipeline.ai.fuzzy_names import name_matcher
from app.pipeline.ai.lab_values import lab_value, result_line
from app.pipeline.ai.lexicon import Concept, LabUnit, Lexicon
from app.pipeline.ai.plausibility import (
    range_is_readable,
    review_lab,
    review_vital,
    words_confidence,
)
from app.pipeline.ai.text import Analysis
from app.pipeline.ai.types import (
    Allergy,
    ClinicalRecords,
    Condition,
    Entity,
    Immunization,
    LabResult,
    Medication,
    Procedure,
    Record,
    Vital,
)
from app.pipeline.ai.vital_readings import vital_reading
from app.pipeline.ai.vocabulary import Vocabulary, icd10cm_codes, plain_name
from app.pipeline.layout import DocumentText

_STATUS_WORDS = (
    ("stopped", r"stopped|discontinued|ceased|withdrawn|stop"),
    ("on_hold", r"held|withheld|suspended|paused|on\s+hold|withhold"),
    ("new", r"started|commenced|initiated|begun|new|start|added|introduced"),
    ("changed", r"increased|reduced|decreased|changed|titrated"),
)
_STATUS = re.compile(
    "|".join(rf"(?P<{name}>\b(?:{words})\b)" for name, words in _STATUS_WORDS), re.IGNORECASE
)
_SEVERITY = re.compile(r"\b(mild|moderate|severe|life[\s-]threatening)\b", re.IGNORECASE)
_REACTION_TEXT = re.compile(
    r"^\W*(?:(?:which|that)\s+)?(?:causes?|causing|caused|gives?|gave|giving|leading\s+to"
    r"|reaction:?)?\s*(?:(?:him|her|them)\s+)?(?:an?\s+)?",
    re.IGNORECASE,
)
MEASURED = frozenset({"lab_result", "vital_sign"})
PLAUSIBLE_FACTOR = 5  # a unitless result fits a unit if within 1/5 of low to 5 x high
ONSET_REACH = 40  # characters after a condition where its onset date may be written


class Enricher:
    """Builds the records of one document from its entities."""

    def __init__(
        self,
        doc: DocumentText,
        lexicon: Lexicon,
        *,
        day_first: bool,
        vocabulary: Vocabulary | None = None,
    ) -> None:
        self.doc, self.lexicon, self.day_first = doc, lexicon, day_first
        self.vocabulary = vocabulary
        self.analysis = Analysis(doc)
        self.context = Context(self.analysis)

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

    # ---- helpers
    def _concept(self, kinds: Iterable[str], text: str) -> tuple[Concept | None, int]:
        """The first concept of `kinds` named in `text`, and where its name ends in `text`."""
        wanted = tuple(kinds)
        for hit in self.lexicon.scan(text):
            if hit.concept.kind in wanted:
                return hit.concept, hit.end
        named = self._vocabulary_name(wanted, text)
        if named is not None:
            return named
        name = re.match(r"[A-Za-z][A-Za-z' \-]*[A-Za-z]", text)
        return None, name.end() if name else 0

    def _vocabulary_name(self, kinds: tuple[str, ...], text: str) -> tuple[Concept, int] | None:
        """A medicine's or vaccine's ingredient name from the large vocabulary ("Lasix" is
        furosemide); conditions keep the words the document used."""
        if self.vocabulary is None or not set(kinds) & {"medication", "vaccine"}:
            return None
        for hit in self.vocabulary.scan(text):
            if hit.term.kind in kinds:
                return Concept(hit.term.kind, hit.term.name), hit.end
        return None

    def _sentence(self, entity: Entity) -> tuple[int, int]:
        span = self.analysis.sentence_at(entity.start)
        return span.start, max(span.end, entity.end)

    # ---- one builder per entity type
    def medication(self, entity: Entity) -> Medication | None:
        if entity.family:
            return None
        concept, name_end = self._concept(("medication",), entity.text)
        sig = parse_sig(entity.text, name_end, len(entity.text))
        return Medication(
            id="",
            entity_ids=(entity.id,),
            name=concept.name if concept else _plain_name(entity.text[:name_end]),
            strength=sig.strength,
            strength_unit=sig.strength_unit,
            dose=sig.dose,
            dose_unit=sig.dose_unit,
            route=sig.route or self._route_before(entity),
            frequency=sig.frequency,
            status=self._medication_status(entity, name_end),
            rxnorm=concept.code if concept else None,
        )

    def _route_before(self, entity: Entity) -> str | None:
        line = self.analysis.line_at(entity.start)
        return route_before(self.doc.text[line.start : entity.start])

    def _medication_status(self, entity: Entity, name_end: int) -> str:
        """Stopped, on hold, new or changed when a word says so in the mention after the
        name ("Ramipril 5 mg (stopped)") or nearest to it in its sentence; else active."""
        if entity.negated:
            return "not_taking"
        if entity.section == "stopped_medications":
            return "stopped"
        start, end = self._sentence(entity)
        nearest: tuple[int, str] | None = None
        for match in _STATUS.finditer(self.doc.text, start, end):
            if entity.start <= match.start() < entity.start + name_end:
                continue
            distance = max(match.start() - entity.end, entity.start - match.end())
            if nearest is None or distance < nearest[0]:
                nearest = (distance, match.lastgroup or "active")
        if nearest is not None:
            return nearest[1]
        return "stopped" if entity.historical else "active"

    def lab_result(self, entity: Entity) -> LabResult | None:
        if entity.family or entity.negated:
            return None
        concept, name_end, approximate = self._measured_name("lab", entity.text)
        if concept is None:  # a test no list names, read from its line's form
            line = result_line(entity.text, 0, len(entity.text))
            name_end = line[1] if line else name_end
        value = lab_value(entity.text, name_end, len(entity.text))
        if value is None:
            return LabResult("", (entity.id,), _name(concept, entity.text[:name_end]), None, "")
        variant = _lab_unit(concept, value.unit, value.value)
        unit = value.unit or (variant.unit if variant else None)
        confidence = self._value_confidence(entity, value.value_start, value.value_end)
        reason = review_lab(concept, value, unit, confidence, approximate=approximate)
        readable = range_is_readable(value.low, value.high)
        low, high = (value.low, value.high) if readable else (None, None)
        return LabResult(
            id="",
            entity_ids=(entity.id,),
            test=_name(concept, entity.text[:name_end]),
            value=value.value,
            value_text=value.value_text,
            unit=unit,
            reference_low=value.low,
            reference_high=value.high,
            abnormal_flag=_abnormal(value.flag, value.value, low, high),
            loinc=variant.loinc if variant else None,
            needs_review=reason is not None,
            review_reason=reason,
            ocr_confidence=confidence,
        )

    def vital_sign(self, entity: Entity) -> Vital | None:
        if entity.family or entity.negated:
            return None
        concept, name_end, approximate = self._measured_name("vital", entity.text)
        if concept is None:
            return None
        reading = vital_reading(concept.name, entity.text, name_end, len(entity.text))
        if reading is None:
            return None
        confidence = self._value_confidence(entity, reading.value_start, reading.value_end)
        reason = review_vital(concept.name, reading, confidence, approximate=approximate)
        return Vital(
            "",
            (entity.id,),
            concept.name,
            reading.value,
            reading.unit,
            reading.systolic,
            reading.diastolic,
            needs_review=reason is not None,
            review_reason=reason,
            ocr_confidence=confidence,
        )

    def _measured_name(self, kind: str, text: str) -> tuple[Concept | None, int, bool]:
        """The test or vital sign `text` starts with, where its name ends, and whether the
        name was matched only approximately (an OCR misreading: "HbAtc 63")."""
        concept, name_end = self._concept((kind,), text)
        if concept is not None and _value_follows(concept, text, name_end):
            return concept, name_end, False
        match = name_matcher(self.lexicon).match(text, kind)
        if match is not None and _value_follows(match.concept, text, match.end):
            return match.concept, match.end, match.distance > 0
        return concept, name_end, False

    def _value_confidence(self, entity: Entity, start: int, end: int) -> float | None:
        """The OCR confidence of the words a value was read from (its offsets in the entity)."""
        if end <= start:
            return None
        return words_confidence(self.doc, entity.start + start, entity.start + end)

    def condition(self, entity: Entity) -> Condition:
        concept, name_end = self._concept(("condition",), entity.text)
        name = _name(concept, entity.text[:name_end])
        codes = icd10cm_codes()
        return Condition(
            id="",
            entity_ids=(entity.id,),
            name=name,
            status=self._condition_status(entity),
            onset_date=self._date_after(entity, name_end, reduced=True, reach=ONSET_REACH),
            code=concept.code if concept else None,
            icd10cm=codes.get(plain_name(entity.text)) or codes.get(plain_name(name)),
        )

    def _condition_status(self, entity: Entity) -> str:
        if entity.negated:
            return "negated"
        if entity.family:
            return "family"
        if "resolved" in self.context.categories(entity.start, entity.end):
            return "resolved"
        return "history" if entity.historical else "active"

    def allergy(self, entity: Entity) -> Allergy | None:
        if entity.negated or entity.family:
            return None
        concept, name_end = self._concept(("allergen", "medication"), entity.text)
        rest = entity.text[name_end:]
        severity = _SEVERITY.search(rest)
        reaction = _SEVERITY.sub(" ", rest)
        reaction = _REACTION_TEXT.sub("", reaction).strip(" ()-\u2013:,\n")
        reaction = re.sub(r"\s+", " ", reaction)
        graded = severity.group(1).lower().replace(" ", "-") if severity else None
        if graded is None and "anaphyla" in reaction.lower():
            graded = "severe"
        substance = _name(concept, entity.text[:name_end])
        return Allergy("", (entity.id,), substance, reaction or None, graded)

    def immunization(self, entity: Entity) -> Immunization | None:
        if entity.negated or entity.family:
            return None
        concept, name_end = self._concept(("vaccine",), entity.text)
        date = self._date_after(entity, name_end, reduced=False) or self._date_before(entity)
        name = _name(concept, entity.text[:name_end])
        return Immunization("", (entity.id,), name, date, concept.code if concept else None)

    def procedure(self, entity: Entity) -> Procedure | None:
        if entity.negated or entity.family:
            return None
        concept, name_end = self._concept(("procedure",), entity.text)
        date = self._date_after(entity, name_end, reduced=True) or self._date_before(entity)
        return Procedure("", (entity.id,), _name(concept, entity.text[:name_end]), date)

    def _date_after(
        self, entity: Entity, name_end: int, *, reduced: bool, reach: int | None = None
    ) -> str | None:
        """The first date after the mention's name: in the mention ("myocardial infarction
        (2015)", a list's line) or after it in its sentence, within `reach` characters."""
        _, end = self._sentence(entity)
        start = entity.start + name_end
        end = end if reach is None else min(end, max(start, entity.end) + reach)
        finder = find_reduced_dates if reduced else find_dates
        found = finder(self.doc.text, day_first=self.day_first, start=start, end=end)
        return found[0].iso if found else None

    def _date_before(self, entity: Entity) -> str | None:
        line = self.analysis.line_at(entity.start)
        found = find_dates(
            self.doc.text, day_first=self.day_first, start=line.start, end=entity.start
        )
        return found[-1].iso if found else None


_BUILDERS: dict[str, tuple[str, Callable[[Enricher, Entity], Any]]] = {
    "medication": ("m", Enricher.medication),
    "lab_result": ("l", Enricher.lab_result),
    "vital_sign": ("v", Enricher.vital_sign),
    "condition": ("c", Enricher.condition),
    "allergy": ("a", Enricher.allergy),
    "immunization": ("i", Enricher.immunization),
    "procedure": ("p", Enricher.procedure),
}


def _value_follows(concept: Concept, text: str, position: int) -> bool:
    if concept.kind == "lab":
        return lab_value(text, position, len(text)) is not None
    return vital_reading(concept.name, text, position, len(text)) is not None


def _plain_name(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _name(concept: Concept | None, fallback: str) -> str:
    return concept.name if concept else _plain_name(fallback)


def _lab_unit(concept: Concept | None, unit: str | None, value: float | None) -> LabUnit | None:
    """The unit variant of a test: the printed unit's, or for a unitless result the first
    whose typical range makes the value plausible."""
    if concept is None:
        return None
    if unit is not None:
        matching = [v for v in concept.units if v.unit == unit]
        return matching[0] if matching else None
    for variant in concept.units:
        if value is None or variant.low is None or variant.high is None or variant.low <= 0:
            return variant
        if variant.low / PLAUSIBLE_FACTOR <= value <= variant.high * PLAUSIBLE_FACTOR:
            return variant
    return None


def _abnormal(
    printed: str | None, value: float | None, low: float | None, high: float | None
) -> str | None:
    """The printed flag, else one worked out from the printed range; None if neither."""
    if printed in ("H", "L", "N"):
        return printed
    if value is None or (low is None and high is None):
        return None
    if low is not None and value < low:
        return "L"
    if high is not None and value > high:
        return "H"
    return "N" if printed is None else None


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
