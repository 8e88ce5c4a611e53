"""What kind of document this is, when it was written, and the dates of care it mentions.

*Document date*: each date's label is the text before it on its line. The first
date labelled as the writing of the document ("Date:", "Reported:", "Date of
letter", "Printed", "Dictated") wins; failing that a discharge date, then a
collection date, then an admission date, then the first date in the text. Dates
of birth never count, neither as the document date nor as a service date.

*Service dates*: every other full date in the text, sorted and without repeats.

*Kind*: from the title lines (the first five): "Discharge summary", "Laboratory
report", "Observation chart", "Medication list"; a letter ("Dear Dr ...") is a
clinic letter. Failing a title, from which records dominate.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.pipeline.ai.dates import FoundDate, find_dates
from app.pipeline.ai.types import ClinicalRecords

_BIRTH = re.compile(r"(?i)(?:date\s+of\s+birth|d\.?\s?o\.?\s?b\.?|born)\W*$")
_LABELS: tuple[tuple[int, re.Pattern[str]], ...] = tuple(
    (rank, re.compile(rf"(?i)(?:{pattern})\W*$"))
    for rank, pattern in (
        (
            1,
            r"date\s+of\s+(?:letter|report)|letter\s+date|report(?:ed)?(?:\s+date)?"
            r"|date\s+reported|(?:date\s+)?printed|dictated|typed|clinic\s+date|date\s+seen"
            r"|seen\s+on|^\s*date|date\s+of\s+clinic|written",
        ),
        (2, r"discharge\s+date|date\s+of\s+discharge|discharged(?:\s+on)?"),
        (3, r"collected|collection\s+date|sample\s+date|date\s+of\s+sample|received"),
        (4, r"admission\s+date|date\s+of\s+admission|admitted(?:\s+on)?"),
    )
)
_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        ("discharge_summary", r"\bdischarge\s+(?:summary|letter|notification|report)\b"),
        (
            "lab_report",
            r"\b(?:laboratory|pathology|lab)\s+(?:report|results)\b|\bblood\s+test\s+results\b"
            r"|\b(?:biochemistry|haematology|hematology)\s+report\b",
        ),
        (
            "vitals_record",
            r"\bobservations?\s+(?:chart|record)\b|\bvital\s+signs\s+(?:record|chart)\b"
            r"|\bnursing\s+observations\b",
        ),
        (
            "medication_list",
            r"\bmedication\s+(?:list|record|summary|review)\b|\brepeat\s+prescriptions?\b"
            r"|\bprescription\s+list\b",
        ),
        ("clinic_letter", r"^\s*dear\b|\bclinic\s+letter\b|\boutpatient\s+(?:letter|clinic)\b"),
    )
)
TITLE_LINES = 5
LETTER_LINES = 15


def _label_rank(text: str, date: FoundDate) -> int | None:
    """0 for a date of birth (never used), 1-4 by label (see module docstring), else 5."""
    line_start = text.rfind("\n", 0, date.start) + 1
    before = text[max(line_start, date.start - 40) : date.start]
    if _BIRTH.search(before):
        return 0
    for rank, pattern in _LABELS:
        if pattern.search(before):
            return rank
    return 5


def dates_of(text: str, *, day_first: bool) -> tuple[str | None, tuple[str, ...]]:
    """(document date, service dates) of the text, as ISO dates."""
    ranked = [(_label_rank(text, d), d) for d in find_dates(text, day_first=day_first)]
    usable = [(rank, d) for rank, d in ranked if rank]
    if not usable:
        return None, ()
    document = min(usable, key=lambda item: (item[0], item[1].start))[1].iso
    return document, tuple(sorted({d.iso for _, d in usable}))


def kind_of(lines: Sequence[str], records: ClinicalRecords) -> str:
    """The kind of document (one of NARRATIVE_KINDS) from its first lines and its records."""
    for kind, pattern in _KINDS:
        window = lines[:LETTER_LINES] if kind == "clinic_letter" else lines[:TITLE_LINES]
        if any(pattern.search(line) for line in window):
            return kind
    counts = {
        "lab_report": len(records.lab_results),
        "vitals_record": len(records.vitals),
        "medication_list": len(records.medications),
    }
    total = len(records.all_records())
    best = max(counts, key=lambda kind: counts[kind])
    if total and counts[best] * 2 > total:
        return best
    return "other"
