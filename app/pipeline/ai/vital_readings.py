"""What follows a vital sign's label: its reading, in its kind's UCUM unit
(`vital_reading`); temperatures in Fahrenheit are converted to Celsius (one decimal),
weights in pounds to kilograms, heights to centimetres (`convert`)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from app.pipeline.ai.grammar import LEAD_SPECKS, VALUE, alternation, lookup, optional

VITAL_UNITS: dict[str, tuple[tuple[str, str], ...]] = {
    "blood_pressure": ((r"(?i:mm\s*hg|mm\[hg\])", "mm[Hg]"),),
    "heart_rate": (
        (r"(?i:bpm|beats\s*(?:/|per)\s*min(?:ute)?|b/min|/\s*min|per\s+min(?:ute)?)", "/min"),
    ),
    "respiratory_rate": (
        (r"(?i:breaths\s*(?:/|per)\s*min(?:ute)?|/\s*min|per\s+min(?:ute)?|bpm)", "/min"),
    ),
    "temperature": (
        (r"(?:\u00b0|\u00ba|degrees\s*)?(?i:c(?:elsius|el)?)", "Cel"),
        (r"(?:\u00b0|\u00ba|degrees\s*)?(?i:f(?:ahrenheit)?)", "[degF]"),
        (r"\u00b0|\u00ba", "Cel"),
    ),
    "oxygen_saturation": ((r"%", "%"),),
    "weight": ((r"(?i:kg|kilograms?|kgs)", "kg"), (r"(?i:lbs?|pounds?)", "[lb_av]")),
    "height": ((r"(?i:cm|centimetres?)", "cm"), (r"(?i:m|metres?)", "m")),
    "bmi": ((r"(?i:kg\s*/\s*m(?:2|\u00b2|\^2))", "kg/m2"),),
}
_VITAL_UNIT = {kind: alternation(table) for kind, table in VITAL_UNITS.items()}
_BP = re.compile(r"(?P<sys>\d{2,3})\s*/\s*(?P<dia>\d{2,3})(?![\d/])")
_VITAL_LEAD = re.compile(
    r"(?:\s*(?:[:=\-\u2013]|[" + re.escape(LEAD_SPECKS) + r"]"
    r"|(?i:was|were|is|are|of|at|measured|recorded|today|on\s+admission"
    r"|reading|rate|reading\s+of|now)\b)){0,3}\s*"
)
DEFAULT_VITAL_UNITS = {
    "blood_pressure": "mm[Hg]",
    "heart_rate": "/min",
    "respiratory_rate": "/min",
    "oxygen_saturation": "%",
    "weight": "kg",
    "height": "cm",
    "bmi": "kg/m2",
}


@dataclass(frozen=True)
class Reading:
    end: int
    value: float | None
    unit: str
    systolic: float | None = None
    diastolic: float | None = None
    value_start: int = 0  # where the reading's characters are, to find the words behind it
    value_end: int = 0


def vital_reading(kind: str, text: str, position: int, limit: int) -> Reading | None:
    """Read a vital sign's value after its label, converted to the UCUM unit of its kind."""
    lead = _VITAL_LEAD.match(text, position, limit)
    cursor = lead.end() if lead else position
    if kind == "blood_pressure":
        match = _BP.match(text, cursor, limit)
        if match is None:
            return None
        _, end = optional(_VITAL_UNIT[kind], text, match.end(), limit, lambda m: m)
        systolic, diastolic = float(match.group("sys")), float(match.group("dia"))
        return Reading(end, None, "mm[Hg]", systolic, diastolic, match.start(), match.end())
    value = VALUE.match(text, cursor, limit)
    if value is None or value.group("cmp"):
        return None
    pattern, table = _VITAL_UNIT[kind], VITAL_UNITS[kind]
    unit, end = optional(pattern, text, value.end(), limit, lambda m: lookup(table, m))
    reading = convert(kind, float(value.group("value")), unit, end)
    return dataclasses.replace(reading, value_start=value.start("value"), value_end=value.end())


def convert(kind: str, number: float, unit: str | None, end: int = 0) -> Reading:
    """A reading in its kind's UCUM unit: Fahrenheit to Celsius, pounds to kg, metres to cm.

    A temperature without a unit is taken as Fahrenheit above 45 (no living body is
    45 degrees Celsius; no living body is below 45 degrees Fahrenheit).
    """
    if kind == "temperature":
        if unit == "[degF]" or (unit is None and number > 45):
            number = (number - 32) * 5 / 9
        return Reading(end, round(number, 1), "Cel")
    if unit == "[lb_av]":
        return Reading(end, round(number * 0.45359237, 1), "kg")
    if unit == "m":
        return Reading(end, round(number * 100, 1), "cm")
    return Reading(end, number, unit or DEFAULT_VITAL_UNITS[kind])
