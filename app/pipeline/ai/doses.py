"""What follows a medicine's name: its strength, dose, route, frequency and duration
(`parse_sig`), and a route written before it (`route_before`).

Frequencies are normalised to: "once daily", "twice daily", "three times daily",
"four times daily", "every N hours", "once weekly", "in the morning", "at night",
"once", and "as needed" (alone or after another: "four times daily as needed").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.pipeline.ai.grammar import BOUNDARY, NUMBER, alternation, lookup, skip_space

_WORD_NUMBERS = {"one": 1.0, "two": 2.0, "three": 3.0, "four": 4.0, "half": 0.5, "a": 1.0}
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
    + rf"){BOUNDARY}{_PER}{BOUNDARY}"
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
    + BOUNDARY,
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
_FREQUENCY = alternation(FREQUENCIES)
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
_ROUTE = alternation(ROUTES)
# A route written just before the name: "IV co-amoxiclav", "nebulised salbutamol".
ROUTE_BEFORE = re.compile(
    r"(?:" + "|".join(f"(?P<u{i}>{p})" for i, (p, _) in enumerate(ROUTES)) + r")\s+$"
)


def route_before(text: str) -> str | None:
    """The route named at the very end of `text` (the words before a medicine), if any."""
    match = ROUTE_BEFORE.search(text[-24:])
    return lookup(ROUTES, match) if match else None


_FILLER = re.compile(
    r"(?i:(?:modified|prolonged)\s+release|gastro-resistant|e/c|MR|XL|SR|tablets?|tabs?|capsules?"
    r"|oral\s+solution|solution|suspension|liquid|syrup|injection|pen|take|taken|to\s+be\s+taken"
    r"|give|given|use|inhale|apply|with\s+food|after\s+food|before\s+food|with\s+meals"
    r"|as\s+directed|via|x|then|m/r|up\s+to|chewable|dispersible|effervescent)"
    + BOUNDARY
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
    r"\s+(?:days?|weeks?|months?))" + BOUNDARY
)


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
    value = lookup(FREQUENCIES, match)
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
        (_ROUTE, lambda s, m: setattr(s, "route", s.route or lookup(ROUTES, m))),
        (_DURATION, lambda s, m: setattr(s, "duration", m.group()[4:].strip())),
    )
    cursor = position
    for _ in range(16):
        cursor = skip_space(text, cursor, limit)
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
