"""What follows a test's name: its result, unit, flag and reference range (`lab_value`);
and a value in a laboratory's unit, which makes whatever names it a result
(`result_follows`, `result_line`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from app.pipeline.ai.grammar import (
    BOUNDARY,
    LEAD_SPECKS,
    NUMBER,
    VALUE,
    alternation,
    lookup,
    optional,
    skip_space,
)

T = TypeVar("T")

# ---- units of results
# "x10^9/L" comes out of OCR as "X1049/L" or "x10°/L" too (the caret read as a 4 or a degree).
LAB_UNITS: tuple[tuple[str, str], ...] = (
    (r"(?:[xX]|\u00d7)?\s*10\s*(?:\^|\*|e|4|\u00b0)?\s*(?:9|\u2079)\s*/\s*[lL]", "10*9/L"),
    (r"(?:[xX]|\u00d7)?\s*10\s*(?:\^|\*|e|4|\u00b0)?\s*12\s*/\s*[lL]", "10*12/L"),
    (r"(?i:mmol\s*/\s*mol)", "mmol/mol"),
    # OCR reads the "l/" of "mol/L" as "V" or "l" as "1", "I" or "|" ("mmoVL", "umoI/L").
    (r"(?i:mmo(?:[l1i|]\s*/|v/?)\s*[l1i|])", "mmol/L"),
    (r"(?i:(?:\u00b5|u|micro)mo(?:[l1i|]\s*/|v/?)\s*[l1i|])", "umol/L"),
    (r"(?i:pmol\s*/\s*l)", "pmol/L"),
    (r"(?i:nmol\s*/\s*l)", "nmol/L"),
    (r"(?i:mg\s*/\s*dl)", "mg/dL"),
    (r"(?i:g\s*/\s*dl)", "g/dL"),
    (r"(?i:mg\s*/\s*l)", "mg/L"),
    (r"(?i:(?:\u00b5|u|mc)g\s*/\s*l)", "ug/L"),
    (r"(?i:ng\s*/\s*ml)", "ng/mL"),
    (r"(?i:ng\s*/\s*l)", "ng/L"),
    (r"(?i:g\s*/\s*l)", "g/L"),
    (r"(?i:m(?:iu|u)\s*/\s*l)", "m[IU]/L"),
    (r"(?i:(?:iu|u)\s*/\s*l)", "U/L"),
    (r"(?i:ml\s*/\s*min(?:\s*/\s*1\.73\s*m(?:2|\u00b2|\^2)?)?)", "mL/min/{1.73_m2}"),
    (r"(?i:mm\s*/\s*h(?:r|our)?)", "mm/h"),
    (r"(?i:fl)", "fL"),
    (r"(?i:l\s*/\s*l)", "L/L"),
    (r"%", "%"),
)
_LAB_UNIT = alternation(LAB_UNITS)
# A value in a laboratory's unit, a flag perhaps between ("43 H mg/dL", "0.03 ng/mL"): a
# result, whatever names it. Percentages are left out: too much else is counted in them.
_VALUE_IN_LAB_UNIT = (
    r"[<>]?\d+(?:\.\d+)?[ \t]*(?:(?:H|L|HH|LL|\*)[ \t]*)?(?:"
    + "|".join(pattern for pattern, unit in LAB_UNITS if unit != "%")
    + rf"){BOUNDARY}"
)
# A line of a results table whatever its test ("Protein, Total 7.1 g/dL 6.0-8.3").
_RESULT_LINE = re.compile(
    r"[ \t]*(?:[-\u2022*][ \t]*)?(?P<name>[A-Za-z][A-Za-z0-9 ,()/'+.\-]{1,48}?)[ \t]*[:=]?[ \t]+"
    + _VALUE_IN_LAB_UNIT
)
# What follows a name that is measured, not given: its qualifiers, then a result
# ("Troponin I (hs) 84 ng/L", "Vitamin D, 25-Hydroxy 18.6 L ng/mL").
_RESULT_AFTER = re.compile(
    r"(?:,?\s*(?i:total|cal|calc|calculated|serum|plasma|\(\w{1,4}\)|[a-z]?\d*-hydroxy))*"
    r"\s*:?\s*" + _VALUE_IN_LAB_UNIT
)


def result_follows(text: str, position: int, limit: int) -> bool:
    """Whether a result in a laboratory's unit follows the name ending at `position`."""
    return _RESULT_AFTER.match(text, position, limit) is not None


def result_line(text: str, start: int, end: int) -> tuple[int, int, int] | None:
    """Where the test's name starts and ends in a results line `text[start:end]`, if it
    is one, and where its whole result (range and flag included) ends."""
    match = _RESULT_LINE.match(text, start, end)
    if match is None:
        return None
    read = lab_value(text, match.end("name"), end)
    return match.start("name"), match.end("name"), max(match.end(), read.end if read else 0)


# ---- results
_FILLER_WORDS = (
    r"was|is|are|were|of|at|level|levels|result|results|measured|now|today|remains|remained"
    r"|raised|elevated|high|low|reduced|increased|decreased|normal|improved|risen|rose|fallen|fell"
    r"|dropped|to|be|noted|came\s+back|has|had|have|been|on\s+admission|recorded|reading"
)
_LAB_LEAD = re.compile(
    r"(?:\s*\([A-Za-z0-9 ]{1,12}\))?(?:\s*(?:[:=\-\u2013]|[" + re.escape(LEAD_SPECKS) + r"]"
    r"|(?i:" + _FILLER_WORDS + r")\b)){0,4}\s*"
)
# A result OCR misread: a letter for a digit ("l39", "4.O") or a colon, semicolon or
# comma for the decimal point ("3:7"). Read only when a unit follows, and marked repaired.
_OCR_VALUE = re.compile(
    r"(?:[^\s\d]{1,3}\s+)?(?P<int>[\dOoIl|]{1,4})(?:[.:;,](?P<frac>[\dOoIl|]{1,2}))?"
    r"[.:;,'\u2019]*(?=\s|$)"
)
# Where the result should be, one or two short words that are no number, before a unit
# ("LDL cholesterol oe mmol/L"): a result OCR could not read.
_UNREADABLE = re.compile(r"[^\s\d]{1,6}")
_OCR_DIGITS = str.maketrans("OoIl|", "00111")
# Specks OCR leaves between a result and its unit ("6.4 -- mmol/L", "142 | g/L").
_SPECKS = re.compile(
    r"(?:[~|;:.,_'\"`\u2014\u2018\u2019\u201c\u201d-]{1,2}\s+)?[~'\"\u2018\u2019\u201c\u201d]?"
)
_FLAG = re.compile(
    r"\(?\s*(?P<flag>HH|LL|H|L|N|\*|\u2191|\u2193|(?i:high|low|normal|abnormal|raised|elevated))"
    r"\s*\)?(?![A-Za-z0-9])"
)
_RANGE = re.compile(
    r"[(\[]?\s*(?:(?i:ref(?:erence)?(?:\s+range)?|range|normal\s+range|nr)\s*[:=]?\s*)?"
    rf"(?:(?P<low>{NUMBER})\s*(?:-{{1,2}}|\u2013|\u2014|=|to)\s*(?P<high>{NUMBER})"
    rf"|(?P<op>[<>]=?|\u2264|\u2265)\s*(?P<bound>{NUMBER}))"
    r"\s*[)\]]?"
)
_FLAG_WORDS = {"high": "H", "raised": "H", "elevated": "H", "low": "L", "normal": "N"}
# A number followed by a medicine's unit is a dose ("Levothyroxine sodium 75 micrograms").
_DRUG_UNIT = re.compile(r"\s*(?i:mg|micrograms?|mcg|g|units?|ml)(?![A-Za-z/])")


@dataclass(frozen=True)
class LabValue:
    end: int
    value: float | None  # None for a censored value ("<0.5")
    value_text: str
    unit: str | None
    low: float | None
    high: float | None
    flag: str | None  # as printed (H, L, N or None); "*" means abnormal, direction unknown
    value_start: int = 0  # where the result's characters are, to find the words behind it
    value_end: int = 0
    repaired: bool = False  # read only after undoing an OCR confusion ("3:7", "l39")
    range_text: str | None = None  # the reference range as printed
    readable: bool = True  # False: words where the result should be, no number


def _flag(text: str | None) -> str | None:
    if text is None:
        return None
    if text in ("HH", "H", "LL", "L", "N", "*"):
        return text[0]
    if text in ("\u2191", "\u2193"):
        return "H" if text == "\u2191" else "L"
    return _FLAG_WORDS.get(text.lower(), "*")


def lab_value(text: str, position: int, limit: int) -> LabValue | None:
    """Read a test's result after its name: value, unit, flag and reference range."""
    lead = _LAB_LEAD.match(text, position, limit)
    cursor = lead.end() if lead else position
    lead_flag = _lead_flag(text[position:cursor])
    read = _result(text, cursor, limit)
    if read is None:
        return None
    unit, end = _unit_after(text, read.end, limit)
    flag, end = optional(_FLAG, text, end, limit, lambda m: m.group("flag"))
    if unit is None and flag is not None:  # "131 L mmol/L": the flag before the unit
        unit, end = optional(_LAB_UNIT, text, end, limit, lambda m: lookup(LAB_UNITS, m))
    ranged, end = _past_specks(_RANGE, text, end, limit, lambda m: m)
    if flag is None:
        flag, end = optional(_FLAG, text, end, limit, lambda m: m.group("flag"))
    if unit is None and ranged is not None:  # "135 (130-170) g/L": the unit after the range
        unit, end = optional(_LAB_UNIT, text, end, limit, lambda m: lookup(LAB_UNITS, m))
    low, high = _bounds(ranged)
    return LabValue(
        end,
        read.number,
        read.shown,
        unit,
        low,
        high,
        _flag(flag) or lead_flag,
        read.start,
        read.end,
        read.repaired,
        ranged.group().strip() if ranged is not None else None,
        read.readable,
    )


@dataclass(frozen=True)
class _Read:
    start: int
    end: int
    number: float | None
    shown: str
    repaired: bool = False
    readable: bool = True


def _result(text: str, position: int, limit: int) -> _Read | None:
    """The result at `position`: as printed, else as OCR misread it, else unreadable
    words where it should be; each of the last two only with a unit after it."""
    value = VALUE.match(text, position, limit)
    if value is not None:
        if _DRUG_UNIT.match(text, value.end(), limit):
            return None
        number = float(value.group("value")) if not value.group("cmp") else None
        shown = value.group().strip().replace(" ", "")
        return _Read(value.start("value"), value.end(), number, shown)
    misread, number = _ocr_value(text, position, limit)
    if misread is not None:
        shown = text[misread.start("int") : misread.end()]
        return _Read(misread.start("int"), misread.end(), number, shown, repaired=True)
    end = position
    for _ in range(2):
        junk = _UNREADABLE.match(text, skip_space(text, end, limit), limit)
        if junk is None or _LAB_UNIT.match(text, junk.start(), limit):
            return None
        end = junk.end()
        if _unit_after(text, end, limit)[0] is not None:
            return _Read(position, end, None, text[position:end], readable=False)
    return None


def _unit_after(text: str, position: int, limit: int) -> tuple[str | None, int]:
    return _past_specks(_LAB_UNIT, text, position, limit, lambda m: lookup(LAB_UNITS, m))


def _past_specks(
    pattern: re.Pattern[str],
    text: str,
    position: int,
    limit: int,
    pick: Callable[[re.Match[str]], T],
) -> tuple[T | None, int]:
    """`optional`, reaching past specks OCR left before the match ("88 ~umol/L- 59-104")."""
    found, end = optional(pattern, text, position, limit, pick)
    if found is not None:
        return found, end
    specks = _SPECKS.match(text, skip_space(text, position, limit), limit)
    if specks is None or specks.end() <= position:
        return None, position
    found, end = optional(pattern, text, specks.end(), limit, pick)
    return (found, end) if found is not None else (None, position)


def _ocr_value(text: str, position: int, limit: int) -> tuple[re.Match[str] | None, float | None]:
    """A misread result ("3:7", "l39") and the number it stands for, when a unit follows."""
    match = _OCR_VALUE.match(text, position, limit)
    if match is None or not re.search(r"\d", match.group()):
        return None, None
    unit, _ = _unit_after(text, match.end(), limit)
    if unit is None:
        return None, None
    digits = match.group("int").translate(_OCR_DIGITS)
    if match.group("frac") is not None:
        digits += "." + match.group("frac").translate(_OCR_DIGITS)
    return match, float(digits)


def _lead_flag(lead: str) -> str | None:
    words = set(re.findall(r"[a-z]+", lead.lower()))
    for word, flag in _FLAG_WORDS.items():
        if word in words and flag != "N":
            return flag
    return None


def _bounds(ranged: re.Match[str] | None) -> tuple[float | None, float | None]:
    if ranged is None:
        return None, None
    if ranged.group("low"):
        return float(ranged.group("low")), float(ranged.group("high"))
    bound = float(ranged.group("bound"))
    return (None, bound) if ranged.group("op") in ("<", "<=", "\u2264") else (bound, None)
