"""The words the generators choose from: names, medicines, tests, conditions and more.

They are kept as data in vocabulary.json, under the lower-case names below; JSON's
lists are read back as tuples, so a row is the tuple the generators unpack and no
list of words can be changed by the code that picks from it. Each name says what
one row holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PATH = Path(__file__).with_name("vocabulary.json")


def _frozen(value: Any) -> Any:
    """JSON's lists as tuples, all the way down."""
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, dict):
        return {key: _frozen(item) for key, item in value.items()}
    return value


_WORDS: dict[str, Any] = _frozen(json.loads(PATH.read_text("utf-8")))

# (name, pronoun)
PATIENTS: tuple[tuple[str, str], ...] = _WORDS["patients"]
DOCTORS: tuple[str, ...] = _WORDS["doctors"]
HOSPITALS: tuple[str, ...] = _WORDS["hospitals"]
PRACTICES: tuple[str, ...] = _WORDS["practices"]
WARDS: tuple[str, ...] = _WORDS["wards"]

# Medicines: display name, canonical name, strengths, unit as written, UCUM unit.
MEDICINES: tuple[Any, ...] = _WORDS["medicines"]
# Short courses, in the same shape.
ACUTE: tuple[Any, ...] = _WORDS["acute"]
# Medicines the lexicon does not list, in the same shape: the rules cannot find them.
UNLISTED: tuple[Any, ...] = _WORDS["unlisted"]
# Canonical frequency: the ways it is written.
FREQUENCIES: dict[str, tuple[str, ...]] = _WORDS["frequencies"]
# Plain words for the GP-system style "one to be taken twice a day".
SPOKEN: dict[str, str] = _WORDS["spoken"]
ROUTES: dict[str, tuple[str, ...]] = _WORDS["routes"]

# Tests: names as written, canonical, units as written -> UCUM, low, high, decimals.
LABS: tuple[Any, ...] = _WORDS["labs"]
# Tests whose range is printed as a bound: name, canonical, unit, UCUM, op, bound, decimals.
BOUNDED: tuple[Any, ...] = _WORDS["bounded"]
# A lab report's section: its title, the canonical names of its tests.
PANELS: tuple[tuple[str, tuple[str, ...]], ...] = _WORDS["panels"]

# Conditions: names as written, canonical name.
CONDITIONS: tuple[tuple[tuple[str, ...], str], ...] = _WORDS["conditions"]
PAST_CONDITIONS: tuple[tuple[tuple[str, ...], str], ...] = _WORDS["past_conditions"]
FAMILY_CONDITIONS: tuple[tuple[tuple[str, ...], str], ...] = _WORDS["family_conditions"]
RULED_OUT: tuple[tuple[tuple[str, ...], str], ...] = _WORDS["ruled_out"]
# What a discharge summary's diagnosis line names.
DIAGNOSES: tuple[tuple[tuple[str, ...], str], ...] = _WORDS["diagnoses"]

SYMPTOMS: tuple[str, ...] = _WORDS["symptoms"]
FINDINGS: tuple[str, ...] = _WORDS["findings"]
# Allergens: display name, canonical name, reactions.
ALLERGENS: tuple[tuple[str, str, tuple[str, ...]], ...] = _WORDS["allergens"]
# Vaccines: names as written, bare name, canonical name.
VACCINES: tuple[tuple[tuple[str, ...], str, str], ...] = _WORDS["vaccines"]
# Operations: names as written, canonical name.
OPERATIONS: tuple[tuple[tuple[str, ...], str], ...] = _WORDS["operations"]
MONTH_NAMES: tuple[str, ...] = _WORDS["month_names"]
