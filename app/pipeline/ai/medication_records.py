"""A medicine's record (Pass 2): its name, instructions, route and status."""

from __future__ import annotations

import re

from app.pipeline.ai.doses import parse_sig, route_before
from app.pipeline.ai.record_reader import RecordReader, written_name
from app.pipeline.ai.types import Entity, Medication

_STATUS_WORDS = (
    ("stopped", r"stopped|discontinued|ceased|withdrawn|stop"),
    ("on_hold", r"held|withheld|suspended|paused|on\s+hold|withhold"),
    ("new", r"started|commenced|initiated|begun|new|start|added|introduced"),
    ("changed", r"increased|reduced|decreased|changed|titrated"),
)
_STATUS = re.compile(
    "|".join(rf"(?P<{name}>\b(?:{words})\b)" for name, words in _STATUS_WORDS), re.IGNORECASE
)


def medication(reader: RecordReader, entity: Entity) -> Medication | None:
    if entity.family:
        return None
    concept, name_end = reader.concept(("medication",), entity.text)
    sig = parse_sig(entity.text, name_end, len(entity.text))
    return Medication(
        id="",
        entity_ids=(entity.id,),
        name=concept.name if concept else written_name(entity.text[:name_end]),
        strength=sig.strength,
        strength_unit=sig.strength_unit,
        dose=sig.dose,
        dose_unit=sig.dose_unit,
        route=sig.route or _route_before(reader, entity),
        frequency=sig.frequency,
        status=_medication_status(reader, entity, name_end),
        rxnorm=concept.code if concept else None,
    )


def _route_before(reader: RecordReader, entity: Entity) -> str | None:
    line = reader.analysis.line_at(entity.start)
    return route_before(reader.doc.text[line.start : entity.start])


def _medication_status(reader: RecordReader, entity: Entity, name_end: int) -> str:
    """Stopped, on hold, new or changed when a word says so in the mention after the
    name ("Ramipril 5 mg (stopped)") or nearest to it in its sentence; else active."""
    if entity.negated:
        return "not_taking"
    if entity.section == "stopped_medications":
        return "stopped"
    start, end = reader.sentence(entity)
    nearest: tuple[int, str] | None = None
    for match in _STATUS.finditer(reader.doc.text, start, end):
        if entity.start <= match.start() < entity.start + name_end:
            continue
        distance = max(match.start() - entity.end, entity.start - match.end())
        if nearest is None or distance < nearest[0]:
            nearest = (distance, match.lastgroup or "active")
    if nearest is not None:
        return nearest[1]
    return "stopped" if entity.historical else "active"
