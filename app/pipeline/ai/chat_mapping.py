"""What the remote model is told for each pass, and how its answers map back: the
prompts; Pass 1's document lines marked with page and line, in chunks (`chunks`),
and the mentions it names placed on the page (`place_entities`); Pass 2's entity
with the line(s) it stands on (`entity_context`), and the records it answers, citing
only known entities (`records_of`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from app.pipeline.ai.detect import Locator
from app.pipeline.ai.schemas import RECORD_TYPES
from app.pipeline.ai.types import ClinicalRecords, Entity, from_json
from app.pipeline.layout import DocumentText, TextLine

PASS1_PROMPT = """You extract clinical mentions from a medical document for a personal health \
record. Each line of the document starts with its page and line number, like [p1 l7].
Return every mention of these types: medication, condition (diagnoses and problems), procedure, \
observation (symptoms and history the patient reports, smoking), allergy, lab_result, \
vital_sign, physical_finding (what an examiner finds), immunization.
For each: "text" copied exactly from the line (for a medication include its dose and \
frequency, for a lab result its value, unit, flag and range, for a vital sign its reading, for \
an allergy its reaction), the "page" and "line" where it starts, and the flags: "negated" \
(stated absent: "denies chest pain", "no evidence of pneumonia"), "historical" (a past episode: \
"history of MI", past medical history), "family" (about a relative), "hypothetical" (only \
possible: "return if fever develops"). "section" is the heading it falls under, lower case with \
underscores, or null. "confidence" is 0 to 1. Do not add anything that is not in the text."""
PASS2_PROMPT = """You turn clinical mentions into structured health records. Each mention has \
an id, a type, its text, its context flags and the line(s) it stands on.
Return records, each citing the ids of the mentions it comes from in "entity_ids": \
medications (strength and dose as numbers with UCUM units such as mg, ug, g, mL, [iU], \
{tablet}, {puff}; route such as oral, inhaled, intravenous; frequency in words such as \
"twice daily", "at night", "four times daily as needed"; status), lab_results (value as a \
number, value_text as printed, UCUM unit such as g/L, mmol/L, umol/L, 10*9/L, %, reference \
range, abnormal_flag H, L or N, LOINC code if sure), vitals (type; value and UCUM unit: mm[Hg] \
with systolic and diastolic for blood pressure, /min, Cel (convert Fahrenheit), %, kg, cm, \
kg/m2), conditions (status active, resolved, history, negated or family; onset_date ISO 8601; \
SNOMED CT code if sure), allergies, immunizations and procedures (dates ISO 8601). Read dates \
day first (12/03/2024 is 12 March 2024). Use null for anything the text does not say. Leave \
out hypothetical mentions."""
PASS3_PROMPT = """You write a short factual summary of a patient's medical document for the \
patient's own health record, from structured records only. Write plain statements, each \
citing in "record_ids" the ids of the records it rests on (at least one). Say nothing the \
records do not say; no advice. "kind" is the kind of document."""


# ---- pass 1: chunks and spans
def _marked(doc: DocumentText, line: TextLine) -> str:
    return f"[p{line.page} l{line.line + 1}] {doc.text[line.start : line.end]}"


def chunks(doc: DocumentText, lines: tuple[TextLine, ...], limit: int) -> Iterator[str]:
    """The document's lines with their markers, in chunks of at most `limit` characters."""
    chunk: list[str] = []
    size = 0
    for line in lines:
        marked = _marked(doc, line)
        if chunk and size + len(marked) + 1 > limit:
            yield "\n".join(chunk)
            chunk, size = [], 0
        chunk.append(marked)
        size += len(marked) + 1
    if chunk:
        yield "\n".join(chunk)


def _span_pattern(text: str) -> re.Pattern[str] | None:
    words = text.split()
    if not words:
        return None
    return re.compile(r"\s+".join(re.escape(word) for word in words), re.IGNORECASE)


def _find(
    doc: DocumentText,
    lines: tuple[TextLine, ...],
    item: dict[str, Any],
    taken: set[tuple[int, int]],
) -> tuple[int, int] | None:
    """Where the answer's text is: from its stated line, then anywhere on its page."""
    pattern = _span_pattern(item["text"])
    if pattern is None:
        return None
    stated = [ln for ln in lines if ln.page == item["page"] and ln.line + 1 == item["line"]]
    page = [ln for ln in lines if ln.page == item["page"]]
    for scope in (stated, page, lines):
        if not scope:
            continue
        for match in pattern.finditer(doc.text, scope[0].start, scope[-1].end + len(item["text"])):
            if match.start() > scope[-1].end:
                break
            if (match.start(), match.end()) not in taken:
                return match.start(), match.end()
    return None


def place_entities(
    doc: DocumentText, lines: tuple[TextLine, ...], found: list[dict[str, Any]]
) -> list[Entity]:
    locator = Locator(doc)
    placed: list[tuple[int, int, dict[str, Any]]] = []
    taken: set[tuple[int, int]] = set()
    for item in found:
        span = _find(doc, lines, item, taken)
        if span is not None:
            taken.add(span)
            placed.append((*span, item))
    placed.sort(key=lambda p: (p[0], p[1]))
    entities = []
    for number, (start, end, item) in enumerate(placed, start=1):
        where = locator.locate(start, end)
        entities.append(
            Entity(
                id=f"e{number}",
                type=item["type"],
                text=doc.text[start:end],
                start=start,
                end=end,
                page=where[0] if where else None,
                box=where[1] if where else None,
                confidence=round(min(max(float(item["confidence"]), 0.0), 1.0), 3),
                negated=item["negated"],
                historical=item["historical"],
                family=item["family"],
                hypothetical=item["hypothetical"],
                section=item["section"],
                found_by="model",
            )
        )
    return entities


# ---- pass 2: context and records
def entity_context(doc: DocumentText, lines: tuple[TextLine, ...], entity: Entity) -> str:
    """The text of the line(s) an entity stands on."""
    spanned = [ln for ln in lines if ln.start <= entity.end and ln.end >= entity.start]
    if not spanned:
        return entity.text
    return " ".join(doc.text[spanned[0].start : spanned[-1].end].split())


def records_of(data: dict[str, Any], known: set[str]) -> ClinicalRecords:
    """Records from the answer, numbered per kind, citing only known entities."""
    prefixes = {
        "medications": "m",
        "lab_results": "l",
        "vitals": "v",
        "conditions": "c",
        "allergies": "a",
        "immunizations": "i",
        "procedures": "p",
    }
    built: dict[str, Any] = {}
    for kind, cls in RECORD_TYPES.items():
        items = []
        for item in data[kind]:
            cited = tuple(dict.fromkeys(i for i in item["entity_ids"] if i in known))
            if cited:
                items.append({**item, "entity_ids": cited})
        built[kind] = tuple(
            from_json(
                cls, {**item, "entity_ids": list(item["entity_ids"]), "id": f"{prefixes[kind]}{n}"}
            )
            for n, item in enumerate(items, start=1)
        )
    return ClinicalRecords(**built)
