"""Whether a measured value can be asserted, or must be kept with `needs_review`.

A result OCR could not read at all (words where the number should be, a unit after
them) is kept as `unreadable_value`. A value read from a page is checked, in this
order, against:

1. *physiological limits* (`data/limits.csv`): no living patient has a potassium of
   46 mmol/L; a value outside is a misreading;
2. *its printed reference range*: a range whose low bound is above its high bound
   was itself misread; a value with more decimals than the range ("5.66" beside
   "3.5 - 5.3") has a digit too many; a whole number beside a range printed with
   decimals, outside it, that a decimal point would bring back near it ("56" beside
   "3.5 - 5.3") has lost its point;
3. *its unit*: a printed unit the test is never reported in;
4. *the OCR confidence* of the words it was read from, below `LOW_OCR_CONFIDENCE`;
5. *how it was read*: a value repaired from an OCR confusion ("3:7" as 3.7), or a
   test whose name matched only approximately ("HbAtc" for HbA1c).

The first failed check names the `review_reason`. A value that fails one is kept
and marked, never dropped and never asserted silently.
"""

from __future__ import annotations

import bisect
import functools
import re

from app.pipeline.ai.lab_values import LabValue
from app.pipeline.ai.lexicon import DATA_DIR, Concept, read_rows
from app.pipeline.ai.vital_readings import Reading
from app.pipeline.layout import DocumentText

REVIEW_REASONS: tuple[str, ...] = (
    "unreadable_value",
    "outside_physiological_limits",
    "implausible_for_range",
    "unreadable_range",
    "unit_mismatch",
    "low_ocr_confidence",
    "ocr_repaired",
    "approximate_name",
)
# Tesseract gives the results of a clean 300 dpi page 0.96-0.97. On 60 seeded noisy
# scans of a lab report (tests/support/scans.py) every misread result was either below
# 0.85 or failed a check above; 9% of the correctly read ones fell below it too. Below
# 0.85 a value is not asserted.
LOW_OCR_CONFIDENCE = 0.85
# A lost decimal point is suspected when value/10 or value/100 falls within the printed
# range widened by this factor on each side.
NEAR_RANGE = 2.0


@functools.cache
def limits() -> dict[tuple[str, str, str], tuple[float, float]]:
    """(kind, name, unit) -> (low, high) from `data/limits.csv`, loaded once.

    Raises OSError or KeyError when the file is missing or malformed.
    """
    return {
        (row["kind"], row["name"], row["unit"]): (float(row["low"]), float(row["high"]))
        for row in read_rows(DATA_DIR / "limits.csv")
    }


def words_confidence(doc: DocumentText, start: int, end: int) -> float | None:
    """The lowest OCR confidence (0-1) of the words in [start, end); None without words."""
    words = doc.words
    index = bisect.bisect_right(words, start, key=lambda word: word.end)
    scores = []
    while index < len(words) and words[index].start < end:
        scores.append(words[index].confidence)
        index += 1
    return round(min(scores) / 100, 3) if scores else None


def review_lab(
    concept: Concept | None,
    value: LabValue,
    unit: str | None,
    confidence: float | None,
    *,
    approximate: bool = False,
) -> str | None:
    """Why the result `value` (of test `concept`, in `unit`) needs review; None if it need not."""
    if not value.readable:
        return "unreadable_value"
    return (
        _outside_limits("lab", concept.name if concept else None, unit, value.value)
        or _against_range(value)
        or _unit_mismatch(concept, value.unit)
        or _read_weakly(confidence, repaired=value.repaired, approximate=approximate)
    )


def review_vital(
    kind: str, reading: Reading, confidence: float | None, *, approximate: bool = False
) -> str | None:
    """Why the reading of vital sign `kind` needs review; None if it need not."""
    if reading.systolic is not None and reading.diastolic is not None:
        reason = _outside_limits(
            "vital", f"{kind}.systolic", reading.unit, reading.systolic
        ) or _outside_limits("vital", f"{kind}.diastolic", reading.unit, reading.diastolic)
        if reason is None and reading.systolic <= reading.diastolic:
            reason = "outside_physiological_limits"
    else:
        reason = _outside_limits("vital", kind, reading.unit, reading.value)
    return reason or _read_weakly(confidence, repaired=False, approximate=approximate)


def range_is_readable(low: float | None, high: float | None) -> bool:
    """Whether a printed range makes sense (its low bound below its high one)."""
    return low is None or high is None or low < high


def _outside_limits(
    kind: str, name: str | None, unit: str | None, value: float | None
) -> str | None:
    if name is None or unit is None or value is None:
        return None
    bounds = limits().get((kind, name, unit))
    if bounds is None or bounds[0] <= value <= bounds[1]:
        return None
    return "outside_physiological_limits"


def _decimals(text: str) -> int | None:
    """Digits after the decimal point of the number in `text`; None when there is none."""
    match = re.search(r"\d+(?:\.(\d+))?", text)
    if match is None:
        return None
    return len(match.group(1) or "")


def _against_range(value: LabValue) -> str | None:
    low, high = value.low, value.high
    if not range_is_readable(low, high):
        return "unreadable_range"
    number, printed = value.value, value.range_text
    if number is None or printed is None or value.repaired:
        return None
    bound_decimals = [len(m.group(1) or "") for m in re.finditer(r"\d+(?:\.(\d+))?", printed)]
    shown = _decimals(value.value_text)
    if shown is None or not bound_decimals:
        return None
    if shown >= 2 and shown > max(bound_decimals):  # "5.66" beside "3.5 - 5.3"
        return "implausible_for_range"
    inside = (low is None or number >= low) and (high is None or number <= high)
    if shown == 0 and min(bound_decimals) > 0 and not inside and _lost_point(number, low, high):
        return "implausible_for_range"
    return None


def _lost_point(number: float, low: float | None, high: float | None) -> bool:
    """Whether `number` with a decimal point put back (56 as 5.6) lies near the range."""
    floor = (low or 0.0) / NEAR_RANGE
    ceiling = high * NEAR_RANGE if high is not None else (low or 0.0) * NEAR_RANGE * NEAR_RANGE
    return any(floor <= number / shift <= ceiling for shift in (10, 100))


def _unit_mismatch(concept: Concept | None, printed: str | None) -> str | None:
    if concept is None or printed is None or not concept.units:
        return None
    if any(variant.unit == printed for variant in concept.units):
        return None
    if (concept.kind, concept.name, printed) in limits():
        return None
    return "unit_mismatch"


def _read_weakly(confidence: float | None, *, repaired: bool, approximate: bool) -> str | None:
    if confidence is not None and confidence < LOW_OCR_CONFIDENCE:
        return "low_ocr_confidence"
    if repaired:
        return "ocr_repaired"
    if approximate:
        return "approximate_name"
    return None
