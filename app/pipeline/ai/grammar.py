"""What follows a name: a medicine's dose and frequency, a test's result, a vital's reading.

Each parser starts where the name ends and reads forward, returning where the
mention ends and what it found, or None when nothing it expects is there (a test
named without a result is not a result). Units come out in UCUM ("mmol/L",
"10*9/L", "mm[Hg]", "Cel", "/min"); temperatures in Fahrenheit are converted to
Celsius (one decimal), weights in pounds to kilograms, heights to centimetres.

Frequencies are normalised to: "once daily", "twice daily", "three times daily",
"four times daily", "every N hours", "once weekly", "in the morning", "at night",
"once", and "as needed" (alone or after another: "four times daily as needed").
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

NUMBER = r"\d+(?:\.\d+)?"
_WORD_NUMBERS = {"one": 1.0, "two": 2.0, "three": 3.0, "four": 4.0, "half": 0.5, "a": 1.0}
_BOUNDARY = r"(?![A-Za-z0-9])"


def _alternation(table: tuple[tuple[str, str], ...]) -> re.Pattern[str]:
    """One pattern of named alternatives (`u0`, `u1`, ...), each mapped to its value."""
    body = "|".join(f"(?P<u{index}>{pattern})" for index, (pattern, _) in enumerate(table))
    return re.compile(rf"(?:{body}){_BOUNDARY}")


def _lookup(table: tuple[tuple[str, str], ...], match: re.Match[str]) -> str:
    assert match.lastgroup is not None
    return table[int(match.lastgroup[1:])][1]


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
_LAB_UNIT = _alternation(LAB_UNITS)
# A value in a laboratory's unit, a flag perhaps between ("43 H mg/dL", "0.03 ng/mL"): a
# result, whatever names it. Percentages are left out: too much else is counted in them.
_VALUE_IN_LAB_UNIT = (
    r"[<>]?\d+(?:\.\d+)?[ \t]*(?:(?:H|L|HH|LL|\*)[ \t]*)?(?:"
    + "|".join(pattern for pattern, unit in LAB_UNITS if unit != "%")
    + rf"){_BOUNDARY}"
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


# ---- medicines
_STRENGTH_UNITS: tuple[tuple[str, str], ...] = (
    (r"(?i:mg|milligrams?)", "mg"),
    (r"(?i:mcg|micrograms?|\u00b5g|ug)", "ug"),
    (r"(?i:ng|nanograms?)", "ng"),
    (r"(?i:g|grams?)", "g"),
    (r"(?i:mmol)", "mmol"),
    (r"(?i:ml|millilitres?)", "mL"),
    (r"(?i:units?|iu)", "[iU]"),
    (r"%", "%"),
)
_PER = (
    r"(?:\s*/\s*(?P<per_n>\d+(?:\.\d+)?)?\s*"
    r"(?P<per>(?i:ml|dose|actuation|hour|hr|h|24\s*hours?)))?"
)
_STRENGTH = re.compile(
    rf"(?P<value>{NUMBER})\s*(?P<unit>"
    + "|".join(f"(?P<s{i}>{p})" for i, (p, _) in enumerate(_STRENGTH_UNITS))
    + rf"){_BOUNDARY}{_PER}{_BOUNDARY}"
)
_DOSE_FORMS: tuple[tuple[str, str], ...] = (
    (r"tablets?|tabs?", "{tablet}"),
    (r"capsules?|caps?", "{capsule}"),
    (r"puffs?|inhalations?|actuations?", "{puff}"),
    (r"drops?", "{drop}"),
    (r"sachets?", "{sachet}"),
    (r"patch(?:es)?", "{patch}"),
    (r"sprays?", "{spray}"),
    (r"suppositor(?:y|ies)", "{suppository}"),
    (r"pessar(?:y|ies)", "{pessary}"),
)
_DOSE = re.compile(
    r"(?P<count>\d+(?:\.\d+)?|one|two|three|four|half|a)(?:\s*(?:x|-|to)\s*(?P<upper>\d+))?\s+"
    r"(?P<form>"
    + "|".join(f"(?P<d{i}>{p})" for i, (p, _) in enumerate(_DOSE_FORMS))
    + r")"
    + _BOUNDARY,
    re.IGNORECASE,
)
FREQUENCIES: tuple[tuple[str, str], ...] = (
    (
        r"(?i:once\s+(?:a|per|each)\s+day|once\s+daily|every\s+day|daily|o\.d\.)|OD|od|QD|qd",
        "once daily",
    ),
    (
        r"(?i:twice\s+(?:a|per|each)\s+day|twice\s+daily|two\s+times\s+(?:a|per)\s+day"
        r"|every\s+12\s+hours|12\s*-?\s*hourly)|BD|bd|BID|bid|b\.d\.",
        "twice daily",
    ),
    (
        r"(?i:three\s+times\s+(?:a|per|each)\s+day|three\s+times\s+daily|every\s+8\s+hours"
        r"|8\s*-?\s*hourly)|TDS|tds|TID|tid|t\.d\.s\.",
        "three times daily",
    ),
    (
        r"(?i:four\s+times\s+(?:a|per|each)\s+day|four\s+times\s+daily|every\s+6\s+hours"
        r"|6\s*-?\s*hourly)|QDS|qds|QID|qid|q\.d\.s\.",
        "four times daily",
    ),
    (r"(?i:every\s+(?P<hours>\d+)\s+hours?|(?P<hourly>\d+)\s*-?\s*hourly)", "every {n} hours"),
    (r"(?i:once\s+(?:a|per|each)\s+week|once\s+weekly|every\s+week|weekly)", "once weekly"),
    (r"(?i:in\s+the\s+morning|every\s+morning|each\s+morning|mane)|OM", "in the morning"),
    (r"(?i:at\s+night|every\s+night|each\s+night|at\s+bedtime|nocte|nightly)|ON", "at night"),
    (
        r"(?i:as\s+(?:required|needed|necessary)|when\s+(?:required|needed)|if\s+required)"
        r"|PRN|prn|p\.r\.n\.",
        "as needed",
    ),
    (r"(?i:stat|once\s+only|immediately)", "once"),
)
_FREQUENCY = _alternation(FREQUENCIES)
ROUTES: tuple[tuple[str, str], ...] = (
    (r"(?i:by\s+mouth|orally|oral)|PO|po|p\.o\.", "oral"),
    (r"(?i:intravenous(?:ly)?)|IV|i\.v\.", "intravenous"),
    (r"(?i:intramuscular(?:ly)?)|IM|i\.m\.", "intramuscular"),
    (r"(?i:subcutaneous(?:ly)?|subcut)|SC|SQ|s\.c\.", "subcutaneous"),
    (r"(?i:inhaled|by\s+inhalation|via\s+inhaler|inhaler|nebulised|nebulized|nebs)", "inhaled"),
    (r"(?i:topical(?:ly)?|cream|ointment|gel)", "topical"),
    (r"(?i:rectal(?:ly)?)|PR", "rectal"),
    (r"(?i:sublingual(?:ly)?|spray)|SL", "sublingual"),
    (r"(?i:transdermal(?:ly)?)", "transdermal"),
    (r"(?i:nasal(?:ly)?|intranasal|nasal\s+spray)", "nasal"),
    (r"(?i:eye\s+drops?|ophthalmic)", "ophthalmic"),
)
_ROUTE = _alternation(ROUTES)
# A route written just before the name: "IV co-amoxiclav", "nebulised salbutamol".
ROUTE_BEFORE = re.compile(
    r"(?:" + "|".join(f"(?P<u{i}>{p})" for i, (p, _) in enumerate(ROUTES)) + r")\s+$"
)


def route_before(text: str) -> str | None:
    """The route named at the very end of `text` (the words before a medicine), if any."""
    match = ROUTE_BEFORE.search(text[-24:])
    return _lookup(ROUTES, match) if match else None


_FILLER = re.compile(
    r"(?i:(?:modified|prolonged)\s+release|gastro-resistant|e/c|MR|XL|SR|tablets?|tabs?|capsules?"
    r"|oral\s+solution|solution|suspension|liquid|syrup|injection|pen|take|taken|to\s+be\s+taken"
    r"|give|given|use|inhale|apply|with\s+food|after\s+food|before\s+food|with\s+meals"
    r"|as\s+directed|via|x|then|m/r|up\s+to|chewable|dispersible|effervescent)"
    + _BOUNDARY
    + r"|[,()\-\u2013:]"
)
# "one to be taken twice a day", "two at night": a count whose form was named before it.
_BARE_DOSE = re.compile(
    r"(?P<count>one|two|three|four|half|\d)\s+(?=(?i:to\s+be\s+(?:taken|used)|at\s+night"
    r"|in\s+the\s+morning|each|every|twice|once|three\s+times|four\s+times|daily"
    r"|up\s+to))",
    re.IGNORECASE,
)
_DURATION = re.compile(
    r"(?i:for\s+(?:a\s+further\s+|another\s+)?(?:\d+|one|two|three|four|five|six|seven|ten)"
    r"\s+(?:days?|weeks?|months?))" + _BOUNDARY
)
T = TypeVar("T")


@dataclass
class Sig:
    """What follows a medicine's name: its strength, dose, route and frequency."""

    end: int
    strength: float | None = None
    strength_unit: str | None = None
    dose: float | None = None
    dose_unit: str | None = None
    route: str | None = None
    frequencies: list[str] = field(default_factory=list)
    duration: str | None = None
    form: str | None = None  # the dose form named among the words ("tablets")

    @property
    def frequency(self) -> str | None:
        return combine_frequencies(self.frequencies)


def combine_frequencies(parts: list[str]) -> str | None:
    """One frequency from several ("once daily" + "at night" is "at night")."""
    if not parts:
        return None
    regular = [p for p in parts if p != "as needed"]
    timed = [p for p in regular if p in ("at night", "in the morning")]
    main = timed[0] if timed and set(regular) <= {"once daily", *timed} else None
    main = main or (regular[0] if regular else None)
    if "as needed" in parts:
        return f"{main} as needed" if main else "as needed"
    return main


def _strength(sig: Sig, match: re.Match[str]) -> None:
    unit = next(u for i, (_, u) in enumerate(_STRENGTH_UNITS) if match.group(f"s{i}"))
    per, per_n = match.group("per"), match.group("per_n")
    if per:
        per_unit = {"ml": "mL", "dose": "{dose}", "actuation": "{dose}"}.get(per.lower(), "h")
        per_unit = "(24.h)" if per.lower().startswith("24") else per_unit
        unit = f"{unit}/({per_n}.{per_unit})" if per_n else f"{unit}/{per_unit}"
    value = float(match.group("value"))
    if unit == "[iU]" and not per:
        sig.dose, sig.dose_unit = value, unit  # "20 units" is how much, not how strong
    elif sig.strength is None:
        sig.strength, sig.strength_unit = value, unit


def _dose(sig: Sig, match: re.Match[str]) -> None:
    count = match.group("count").lower()
    form = next(u for i, (_, u) in enumerate(_DOSE_FORMS) if match.group(f"d{i}"))
    sig.dose_unit = form
    sig.dose = None if match.group("upper") else _WORD_NUMBERS.get(count) or float(count)


def _bare_dose(sig: Sig, match: re.Match[str]) -> None:
    count = match.group("count").lower()
    sig.dose = _WORD_NUMBERS.get(count) or float(count)
    sig.dose_unit = sig.dose_unit or sig.form


def _form(text: str) -> str | None:
    """The dose form a filler word names ("tablets" -> {tablet}), if any."""
    for pattern, unit in _DOSE_FORMS:
        if re.fullmatch(pattern, text, re.IGNORECASE):
            return unit
    return None


def _frequency(sig: Sig, match: re.Match[str]) -> None:
    value = _lookup(FREQUENCIES, match)
    if "{n}" in value:
        value = value.format(n=match.group("hours") or match.group("hourly"))
    sig.frequencies.append(value)


def parse_sig(text: str, position: int, limit: int) -> Sig:
    """Read a medicine's instructions from `position` up to `limit` (the clause's end).

    Never fails: a name with nothing after it gives a Sig that ends where it started.
    """
    sig = Sig(position)
    steps = (
        (_DOSE, _dose),
        (_STRENGTH, _strength),
        (_FREQUENCY, _frequency),
        (_BARE_DOSE, _bare_dose),
        (_ROUTE, lambda s, m: setattr(s, "route", s.route or _lookup(ROUTES, m))),
        (_DURATION, lambda s, m: setattr(s, "duration", m.group()[4:].strip())),
    )
    cursor = position
    for _ in range(16):
        cursor = _skip_space(text, cursor, limit)
        for pattern, apply in steps:
            match = pattern.match(text, cursor, limit)
            if match:
                apply(sig, match)
                cursor = sig.end = match.end()
                break
        else:
            filler = _FILLER.match(text, cursor, limit)
            if not filler or filler.end() == cursor:
                break
            sig.form = sig.form or _form(filler.group())
            cursor = filler.end()
    return sig


# ---- results
_FILLER_WORDS = (
    r"was|is|are|were|of|at|level|levels|result|results|measured|now|today|remains|remained"
    r"|raised|elevated|high|low|reduced|increased|decreased|normal|improved|risen|rose|fallen|fell"
    r"|dropped|to|be|noted|came\s+back|has|had|have|been|on\s+admission|recorded|reading"
)
# Specks a scan leaves between a name and its value ("Sodium | 139", "HbA1c © 53").
_LEAD_SPECKS = "|~\u00a9\u00ae*_\u2014\u2018\u2019\u201c\u201d\"',;."
_LAB_LEAD = re.compile(
    r"(?:\s*\([A-Za-z0-9 ]{1,12}\))?(?:\s*(?:[:=\-\u2013]|[" + re.escape(_LEAD_SPECKS) + r"]"
    r"|(?i:" + _FILLER_WORDS + r")\b)){0,4}\s*"
)
# Not a result: the start of a date or time, or of a number whose decimal point OCR misread.
_VALUE = re.compile(
    rf"(?P<cmp>[<>]=?|\u2264|\u2265)?\s*(?P<value>{NUMBER})(?![\d/:]|[.,;][\dOoIl|])"
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
    flag, end = _optional(_FLAG, text, end, limit, lambda m: m.group("flag"))
    if unit is None and flag is not None:  # "131 L mmol/L": the flag before the unit
        unit, end = _optional(_LAB_UNIT, text, end, limit, lambda m: _lookup(LAB_UNITS, m))
    ranged, end = _past_specks(_RANGE, text, end, limit, lambda m: m)
    if flag is None:
        flag, end = _optional(_FLAG, text, end, limit, lambda m: m.group("flag"))
    if unit is None and ranged is not None:  # "135 (130-170) g/L": the unit after the range
        unit, end = _optional(_LAB_UNIT, text, end, limit, lambda m: _lookup(LAB_UNITS, m))
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
    value = _VALUE.match(text, position, limit)
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
        junk = _UNREADABLE.match(text, _skip_space(text, end, limit), limit)
        if junk is None or _LAB_UNIT.match(text, junk.start(), limit):
            return None
        end = junk.end()
        if _unit_after(text, end, limit)[0] is not None:
            return _Read(position, end, None, text[position:end], readable=False)
    return None


def _unit_after(text: str, position: int, limit: int) -> tuple[str | None, int]:
    return _past_specks(_LAB_UNIT, text, position, limit, lambda m: _lookup(LAB_UNITS, m))


def _past_specks(
    pattern: re.Pattern[str],
    text: str,
    position: int,
    limit: int,
    pick: Callable[[re.Match[str]], T],
) -> tuple[T | None, int]:
    """`_optional`, reaching past specks OCR left before the match ("88 ~umol/L- 59-104")."""
    found, end = _optional(pattern, text, position, limit, pick)
    if found is not None:
        return found, end
    specks = _SPECKS.match(text, _skip_space(text, position, limit), limit)
    if specks is None or specks.end() <= position:
        return None, position
    found, end = _optional(pattern, text, specks.end(), limit, pick)
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


def _skip_space(text: str, position: int, limit: int) -> int:
    while position < limit and text[position].isspace():
        position += 1
    return position


def _optional(
    pattern: re.Pattern[str],
    text: str,
    position: int,
    limit: int,
    pick: Callable[[re.Match[str]], T],
) -> tuple[T | None, int]:
    """Match `pattern` after optional spaces; (picked value, new end) or (None, position)."""
    start = _skip_space(text, position, limit)
    match = pattern.match(text, start, limit)
    if match is None or match.end() == start:
        return None, position
    return pick(match), match.end()


# ---- vital signs
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
_VITAL_UNIT = {kind: _alternation(table) for kind, table in VITAL_UNITS.items()}
_BP = re.compile(r"(?P<sys>\d{2,3})\s*/\s*(?P<dia>\d{2,3})(?![\d/])")
_VITAL_LEAD = re.compile(
    r"(?:\s*(?:[:=\-\u2013]|[" + re.escape(_LEAD_SPECKS) + r"]"
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
        _, end = _optional(_VITAL_UNIT[kind], text, match.end(), limit, lambda m: m)
        systolic, diastolic = float(match.group("sys")), float(match.group("dia"))
        return Reading(end, None, "mm[Hg]", systolic, diastolic, match.start(), match.end())
    value = _VALUE.match(text, cursor, limit)
    if value is None or value.group("cmp"):
        return None
    pattern, table = _VITAL_UNIT[kind], VITAL_UNITS[kind]
    unit, end = _optional(pattern, text, value.end(), limit, lambda m: _lookup(table, m))
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
