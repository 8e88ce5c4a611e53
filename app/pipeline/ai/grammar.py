"""What the readers of what follows a name share: numbers, tables of alternatives, optional
matches.

The readers are `doses.parse_sig` (a medicine's dose and frequency),
`lab_values.lab_value` (a test's result) and `vital_readings.vital_reading` (a vital's
reading). Each starts where the name ends and reads forward, returning where the
mention ends and what it found, or None when nothing it expects is there (a test
named without a result is not a result). Units come out in UCUM ("mmol/L",
"10*9/L", "mm[Hg]", "Cel", "/min").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

NUMBER = r"\d+(?:\.\d+)?"
BOUNDARY = r"(?![A-Za-z0-9])"


def alternation(table: tuple[tuple[str, str], ...]) -> re.Pattern[str]:
    """One pattern of named alternatives (`u0`, `u1`, ...), each mapped to its value."""
    body = "|".join(f"(?P<u{index}>{pattern})" for index, (pattern, _) in enumerate(table))
    return re.compile(rf"(?:{body}){BOUNDARY}")


def lookup(table: tuple[tuple[str, str], ...], match: re.Match[str]) -> str:
    assert match.lastgroup is not None
    return table[int(match.lastgroup[1:])][1]


T = TypeVar("T")
# Specks a scan leaves between a name and its value ("Sodium | 139", "HbA1c © 53").
LEAD_SPECKS = "|~\u00a9\u00ae*_\u2014\u2018\u2019\u201c\u201d\"',;."
# Not a result: the start of a date or time, or of a number whose decimal point OCR misread.
VALUE = re.compile(
    rf"(?P<cmp>[<>]=?|\u2264|\u2265)?\s*(?P<value>{NUMBER})(?![\d/:]|[.,;][\dOoIl|])"
)


def skip_space(text: str, position: int, limit: int) -> int:
    while position < limit and text[position].isspace():
        position += 1
    return position


def optional(
    pattern: re.Pattern[str],
    text: str,
    position: int,
    limit: int,
    pick: Callable[[re.Match[str]], T],
) -> tuple[T | None, int]:
    """Match `pattern` after optional spaces; (picked value, new end) or (None, position)."""
    start = skip_space(text, position, limit)
    match = pattern.match(text, start, limit)
    if match is None or match.end() == start:
        return None, position
    return pick(match), match.end()
