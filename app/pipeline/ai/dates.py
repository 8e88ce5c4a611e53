"""Dates in clinical text, as ISO 8601.

Understood: "2024-03-12"; "12/03/2024", "12-03-2024", "12.03.24"; "3 March 2024",
"3rd Mar 2024", "03-Mar-2024"; "March 3, 2024"; and, where a reduced date makes
sense (onset of a condition, year of an operation), "March 2024" and "2019".

Slashed dates are read **day first** ("12/03/2024" is 12 March), as in the UK and
most of the world, unless a part rules that out ("03/25/2024" can only be 25 March)
or the caller passes `day_first=False`. Two-digit years pivot at 50: "24" is 2024,
"54" is 1954, with no reference to today's date, so the result is deterministic.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<month_name>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_ORDINAL = r"(?:st|nd|rd|th)?"
_PATTERNS = (
    ("iso", r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"),
    ("numeric", r"(?P<a>\d{1,2})(?P<sep>[/.\-])(?P<b>\d{1,2})(?P=sep)(?P<year>\d{4}|\d{2})"),
    (
        "day_month",
        rf"(?P<day>\d{{1,2}}){_ORDINAL}[\s\-]+(?:of\s+)?{_MONTH}[\s\-,]+(?P<year>\d{{4}})",
    ),
    ("month_day", rf"{_MONTH}\s+(?P<day>\d{{1,2}}){_ORDINAL},?\s+(?P<year>\d{{4}})"),
)
_COMPILED = tuple(
    (name, re.compile(rf"(?<![\w/.\-]){pattern}(?![\w/]|[.\-]\d)", re.IGNORECASE))
    for name, pattern in _PATTERNS
)
_MONTH_YEAR = re.compile(rf"(?<![\w/.\-]){_MONTH}\s+(?P<year>(?:19|20)\d\d)(?!\w)", re.IGNORECASE)
_YEAR = re.compile(r"(?<![\w/.\-])(?P<year>(?:19|20)\d\d)(?![\w/]|[.\-]\d)")


@dataclass(frozen=True)
class FoundDate:
    start: int
    end: int
    iso: str


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        year += 2000 if year < 50 else 1900
    return year


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def _from_match(kind: str, match: re.Match[str], day_first: bool) -> str | None:
    parts = match.groupdict()
    year = _year(parts["year"])
    if kind == "numeric":
        a, b = int(parts["a"]), int(parts["b"])
        if a > 12 or (day_first and b <= 12):
            return _iso(year, b, a)
        return _iso(year, a, b)
    month = MONTHS[parts["month_name"].lower()] if parts.get("month_name") else int(parts["month"])
    return _iso(year, month, int(parts["day"]))


def find_dates(
    text: str, *, day_first: bool = True, start: int = 0, end: int | None = None
) -> list[FoundDate]:
    """Full dates (day, month and year) in text[start:end], in order; impossible ones skipped."""
    end = len(text) if end is None else end
    found: list[FoundDate] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _COMPILED:
        for match in pattern.finditer(text, start, end):
            if any(match.start() < b and match.end() > a for a, b in taken):
                continue
            iso = _from_match(kind, match, day_first)
            if iso is not None:
                found.append(FoundDate(match.start(), match.end(), iso))
                taken.append((match.start(), match.end()))
    return sorted(found, key=lambda d: d.start)


def find_reduced_dates(
    text: str, *, day_first: bool = True, start: int = 0, end: int | None = None
) -> list[FoundDate]:
    """Full dates, then "March 2024" (2024-03) and "2019" where no fuller date covers them."""
    end = len(text) if end is None else end
    found = find_dates(text, day_first=day_first, start=start, end=end)
    for pattern, monthly in ((_MONTH_YEAR, True), (_YEAR, False)):
        for match in pattern.finditer(text, start, end):
            if any(match.start() < d.end and match.end() > d.start for d in found):
                continue
            year = match.group("year")
            iso = f"{year}-{MONTHS[match.group('month_name').lower()]:02d}" if monthly else year
            found.append(FoundDate(match.start(), match.end(), iso))
    return sorted(found, key=lambda d: d.start)


def parse_date(text: str, *, day_first: bool = True) -> str | None:
    """The ISO form of the first full date in `text`, or None."""
    dates = find_dates(text, day_first=day_first)
    return dates[0].iso if dates else None


def display_date(iso: str) -> str:
    """ "2024-03-12" as "12 March 2024" (reduced dates: "March 2024", "2019")."""
    names = [name for name, number in MONTHS.items() if len(name) > 3 or name == "may"]
    names = [n for i, n in enumerate(names) if n not in ("sept",)]
    parts = iso.split("-")
    if len(parts) == 3:
        return f"{int(parts[2])} {names[int(parts[1]) - 1].title()} {parts[0]}"
    if len(parts) == 2:
        return f"{names[int(parts[1]) - 1].title()} {parts[0]}"
    return iso
