"""The records of measurements (Pass 2): a lab result (value, unit, range, flag, LOINC) and
a vital sign's reading, each with the OCR confidence of its value and, when it looks
wrong, why it needs review."""

from __future__ import annotations

from app.pipeline.ai.fuzzy_names import name_matcher
from app.pipeline.ai.lab_values import lab_value, result_line
from app.pipeline.ai.lexicon import Concept, LabUnit
from app.pipeline.ai.plausibility import (
    range_is_readable,
    review_lab,
    review_vital,
    words_confidence,
)
from app.pipeline.ai.record_reader import RecordReader, record_name
from app.pipeline.ai.types import Entity, LabResult, Vital
from app.pipeline.ai.vital_readings import vital_reading

PLAUSIBLE_FACTOR = 5  # a unitless result fits a unit if within 1/5 of low to 5 x high


def lab_result(reader: RecordReader, entity: Entity) -> LabResult | None:
    if entity.family or entity.negated:
        return None
    concept, name_end, approximate = _measured_name(reader, "lab", entity.text)
    if concept is None:  # a test no list names, read from its line's form
        line = result_line(entity.text, 0, len(entity.text))
        name_end = line[1] if line else name_end
    value = lab_value(entity.text, name_end, len(entity.text))
    if value is None:
        return LabResult("", (entity.id,), record_name(concept, entity.text[:name_end]), None, "")
    variant = _lab_unit(concept, value.unit, value.value)
    unit = value.unit or (variant.unit if variant else None)
    confidence = _value_confidence(reader, entity, value.value_start, value.value_end)
    reason = review_lab(concept, value, unit, confidence, approximate=approximate)
    readable = range_is_readable(value.low, value.high)
    low, high = (value.low, value.high) if readable else (None, None)
    return LabResult(
        id="",
        entity_ids=(entity.id,),
        test=record_name(concept, entity.text[:name_end]),
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


def vital_sign(reader: RecordReader, entity: Entity) -> Vital | None:
    if entity.family or entity.negated:
        return None
    concept, name_end, approximate = _measured_name(reader, "vital", entity.text)
    if concept is None:
        return None
    reading = vital_reading(concept.name, entity.text, name_end, len(entity.text))
    if reading is None:
        return None
    confidence = _value_confidence(reader, entity, reading.value_start, reading.value_end)
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


def _measured_name(reader: RecordReader, kind: str, text: str) -> tuple[Concept | None, int, bool]:
    """The test or vital sign `text` starts with, where its name ends, and whether the
    name was matched only approximately (an OCR misreading: "HbAtc 63")."""
    concept, name_end = reader.concept((kind,), text)
    if concept is not None and _value_follows(concept, text, name_end):
        return concept, name_end, False
    match = name_matcher(reader.lexicon).match(text, kind)
    if match is not None and _value_follows(match.concept, text, match.end):
        return match.concept, match.end, match.distance > 0
    return concept, name_end, False


def _value_confidence(reader: RecordReader, entity: Entity, start: int, end: int) -> float | None:
    """The OCR confidence of the words a value was read from (its offsets in the entity)."""
    if end <= start:
        return None
    return words_confidence(reader.doc, entity.start + start, entity.start + end)


def _value_follows(concept: Concept, text: str, position: int) -> bool:
    if concept.kind == "lab":
        return lab_value(text, position, len(text)) is not None
    return vital_reading(concept.name, text, position, len(text)) is not None


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
