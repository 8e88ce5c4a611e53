"""The records of a patient's history (Pass 2): conditions (status, onset, codes),
allergies (reaction, severity), immunizations and procedures (with their dates)."""

from __future__ import annotations

import re

from app.pipeline.ai.dates import find_dates, find_reduced_dates
from app.pipeline.ai.record_reader import RecordReader, record_name
from app.pipeline.ai.types import Allergy, Condition, Entity, Immunization, Procedure
from app.pipeline.ai.vocabulary import icd10cm_codes, plain_name

_SEVERITY = re.compile(r"\b(mild|moderate|severe|life[\s-]threatening)\b", re.IGNORECASE)
_REACTION_TEXT = re.compile(
    r"^\W*(?:(?:which|that)\s+)?(?:causes?|causing|caused|gives?|gave|giving|leading\s+to"
    r"|reaction:?)?\s*(?:(?:him|her|them)\s+)?(?:an?\s+)?",
    re.IGNORECASE,
)
ONSET_REACH = 40  # characters after a condition where its onset date may be written


def condition(reader: RecordReader, entity: Entity) -> Condition:
    concept, name_end = reader.concept(("condition",), entity.text)
    name = record_name(concept, entity.text[:name_end])
    codes = icd10cm_codes()
    return Condition(
        id="",
        entity_ids=(entity.id,),
        name=name,
        status=_condition_status(reader, entity),
        onset_date=_date_after(reader, entity, name_end, reduced=True, reach=ONSET_REACH),
        code=concept.code if concept else None,
        icd10cm=codes.get(plain_name(entity.text)) or codes.get(plain_name(name)),
    )


def _condition_status(reader: RecordReader, entity: Entity) -> str:
    if entity.negated:
        return "negated"
    if entity.family:
        return "family"
    if "resolved" in reader.context.categories(entity.start, entity.end):
        return "resolved"
    return "history" if entity.historical else "active"


def allergy(reader: RecordReader, entity: Entity) -> Allergy | None:
    if entity.negated or entity.family:
        return None
    concept, name_end = reader.concept(("allergen", "medication"), entity.text)
    rest = entity.text[name_end:]
    severity = _SEVERITY.search(rest)
    reaction = _SEVERITY.sub(" ", rest)
    reaction = _REACTION_TEXT.sub("", reaction).strip(" ()-\u2013:,\n")
    reaction = re.sub(r"\s+", " ", reaction)
    graded = severity.group(1).lower().replace(" ", "-") if severity else None
    if graded is None and "anaphyla" in reaction.lower():
        graded = "severe"
    substance = record_name(concept, entity.text[:name_end])
    return Allergy("", (entity.id,), substance, reaction or None, graded)


def immunization(reader: RecordReader, entity: Entity) -> Immunization | None:
    if entity.negated or entity.family:
        return None
    concept, name_end = reader.concept(("vaccine",), entity.text)
    date = _date_after(reader, entity, name_end, reduced=False) or _date_before(reader, entity)
    name = record_name(concept, entity.text[:name_end])
    return Immunization("", (entity.id,), name, date, concept.code if concept else None)


def procedure(reader: RecordReader, entity: Entity) -> Procedure | None:
    if entity.negated or entity.family:
        return None
    concept, name_end = reader.concept(("procedure",), entity.text)
    date = _date_after(reader, entity, name_end, reduced=True) or _date_before(reader, entity)
    return Procedure("", (entity.id,), record_name(concept, entity.text[:name_end]), date)


def _date_after(
    reader: RecordReader, entity: Entity, name_end: int, *, reduced: bool, reach: int | None = None
) -> str | None:
    """The first date after the mention's name: in the mention ("myocardial infarction
    (2015)", a list's line) or after it in its sentence, within `reach` characters."""
    _, end = reader.sentence(entity)
    start = entity.start + name_end
    end = end if reach is None else min(end, max(start, entity.end) + reach)
    finder = find_reduced_dates if reduced else find_dates
    found = finder(reader.doc.text, day_first=reader.day_first, start=start, end=end)
    return found[0].iso if found else None


def _date_before(reader: RecordReader, entity: Entity) -> str | None:
    line = reader.analysis.line_at(entity.start)
    found = find_dates(
        reader.doc.text, day_first=reader.day_first, start=line.start, end=entity.start
    )
    return found[-1].iso if found else None
