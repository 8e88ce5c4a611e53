"""Shaping a document's stored results for its page: pages with boxes, records, narrative.

Boxes are stored normalised (0-1 of the page). Each page is drawn as an image with an
SVG laid over it whose viewBox is `VIEW_WIDTH` wide and as tall as the page's aspect
asks, so a box becomes an SVG rect by scaling alone, with no inline style (the CSP
forbids it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.models import ClinicalRecord, OcrPage, PageLayoutRow
from app.pipeline.ai.types import Entity

VIEW_WIDTH = 1000.0

ENTITY_LABELS = {
    "medication": "Medication",
    "condition": "Condition",
    "procedure": "Procedure",
    "observation": "Observation",
    "allergy": "Allergy",
    "lab_result": "Lab result",
    "vital_sign": "Vital sign",
    "physical_finding": "Physical finding",
    "immunization": "Immunization",
}
RECORD_LABELS = {
    "medication": "Medications",
    "lab_result": "Lab results",
    "vital": "Vital signs",
    "condition": "Conditions",
    "allergy": "Allergies",
    "immunization": "Immunizations",
    "procedure": "Procedures",
}


@dataclass
class Rect:
    x: float
    y: float
    width: float
    height: float


@dataclass
class PageView:
    number: int
    view_height: float
    text: str
    words: list[Rect] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)


def rect(box: Any, view_height: float) -> Rect:
    x0, y0, x1, y1 = (float(v) for v in box)
    return Rect(
        round(x0 * VIEW_WIDTH, 2),
        round(y0 * view_height, 2),
        round(max(x1 - x0, 0.0) * VIEW_WIDTH, 2),
        round(max(y1 - y0, 0.0) * view_height, 2),
    )


def entity_view(entity: Entity) -> dict[str, Any]:
    flags = [
        name
        for name, on in (
            ("negated", entity.negated),
            ("history", entity.historical),
            ("family", entity.family),
            ("hypothetical", entity.hypothetical),
        )
        if on
    ]
    return {
        "key": entity.id,
        "type": entity.type,
        "label": ENTITY_LABELS.get(entity.type, entity.type),
        "text": entity.text,
        "confidence": f"{round(entity.confidence * 100)}%",
        "flags": ", ".join(flags),
        "page": entity.page,
    }


def pages_view(
    ocr_pages: list[OcrPage], layouts: dict[int, PageLayoutRow], entities: list[Entity]
) -> list[PageView]:
    views = []
    for ocr in ocr_pages:
        view_height = round(VIEW_WIDTH * ocr.height / ocr.width, 2) if ocr.width else VIEW_WIDTH
        layout = layouts.get(ocr.page_number)
        page = PageView(ocr.page_number, view_height, layout.text if layout else ocr.text)
        for line in layout.layout["lines"] if layout else []:
            page.words.extend(rect(word[1:5], view_height) for word in line["words"])
        for entity in entities:
            if entity.page == ocr.page_number and entity.box:
                page.entities.append(entity_view(entity) | {"rect": rect(entity.box, view_height)})
        views.append(page)
    return views


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _unit(unit: str | None) -> str:
    # UCUM's bracketed and braced annotations read oddly to people.
    return (unit or "").replace("mm[Hg]", "mmHg").replace("[iU]", "IU").strip("{}")


def _details(record_type: str, data: dict[str, Any]) -> list[Any]:
    if record_type == "medication":
        strength = data.get("strength")
        amount = f"{_number(strength)} {_unit(data.get('strength_unit'))}" if strength else None
        return [amount, data.get("frequency"), data.get("route"), data.get("status")]
    if record_type == "lab_result":
        low, high = data.get("reference_low"), data.get("reference_high")
        reference = f"range {_number(low)} to {_number(high)}" if low is not None and high else None
        flag = {"H": "high", "L": "low", "N": "normal"}.get(data.get("abnormal_flag") or "")
        return [f"{data.get('value_text')} {_unit(data.get('unit'))}", reference, flag]
    if record_type == "vital":
        if data.get("systolic") is not None:
            value = f"{_number(data['systolic'])}/{_number(data.get('diastolic'))}"
        else:
            value = _number(data.get("value"))
        return [f"{value} {_unit(data.get('unit'))}"]
    if record_type == "condition":
        return [data.get("status"), data.get("onset_date")]
    if record_type == "allergy":
        return [data.get("reaction"), data.get("severity")]
    return [data.get("date")]


REVIEW_TEXT = {
    "unreadable_value": "the result could not be read",
    "outside_physiological_limits": "outside what a body can have",
    "implausible_for_range": "does not fit its printed range",
    "unreadable_range": "the printed range was misread",
    "unit_mismatch": "an unexpected unit",
    "low_ocr_confidence": "read with low confidence",
    "ocr_repaired": "read after correcting the scan's characters",
    "approximate_name": "the test's name was read approximately",
}


def review_text(data: dict[str, Any]) -> str | None:
    """Why a value needs checking against the page, in words; None when it does not."""
    if not data.get("needs_review"):
        return None
    reason = REVIEW_TEXT.get(data.get("review_reason") or "", "it may be misread")
    return f"Check this value against the page: {reason}."


def _code_label(system: str | None, code: str | None) -> str | None:
    if not code:
        return None
    names = {"rxnorm": "RxNorm", "loinc.org": "LOINC", "sct": "SNOMED CT"}
    name = (system or "").rstrip("/").rsplit("/", 1)[-1]
    return f"{names.get(name, name)} {code}"


def records_view(
    rows: list[ClinicalRecord], entities: dict[str, Entity]
) -> list[tuple[str, list[dict[str, Any]]]]:
    """Records grouped by kind, each with its details and the entities it cites."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        cited = [entities[key] for key in row.entity_keys["entities"] if key in entities]
        groups.setdefault(row.record_type, []).append(
            {
                "key": row.record_key,
                "display": row.display,
                "details": " · ".join(
                    str(d).strip() for d in _details(row.record_type, row.data) if d
                ),
                "code": _code_label(row.code_system, row.code),
                "entities": [e.id for e in cited if e.page is not None and e.box],
                "page": next((e.page for e in cited if e.page is not None), None),
                "review": review_text(row.data),
            }
        )
    return [(label, groups[kind]) for kind, label in RECORD_LABELS.items() if kind in groups]
