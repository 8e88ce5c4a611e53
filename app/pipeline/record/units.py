"""Converting a test's results to one display unit, through pint.

Pass 2 writes units in UCUM ("mmol/L", "10*9/L", "mm[Hg]", "Cel", "m[IU]/L"); `parse`
reads them into pint units (a unit pint cannot read is None: its results stay a series of
their own, never mixed). Two clinical conversions need more than dimensions:

- **HbA1c**, IFCC (mmol/mol) and NGSP (%): not a scale but an affine mapping, the IFCC-NGSP
  master equation `% = 0.0915 x mmol/mol + 2.15`. It is applied here explicitly; pint
  alone would read both as plain ratios and convert 48 mmol/mol to 4.8 %.
- **mass and amount of substance** (glucose, cholesterol in mg/dL and mmol/L): pint's
  `chemistry` context, given the analyte's molar mass (`MOLAR_MASS`, g/mol).

International units ([IU]) are their own dimension: they convert between mIU and IU, and
to nothing else.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import pint

#: Tests whose results compare only through the IFCC-NGSP equation, by their series key
#: (the LOINC code that `app.pipeline.record.keys` gives the test).
HBA1C_KEYS = frozenset({"59261-8"})
NGSP_SLOPE, NGSP_INTERCEPT = 0.0915, 2.15

#: Molar masses (g/mol) of the analytes reported both by mass and by amount, by series key.
MOLAR_MASS: dict[str, float] = {
    "14749-6": 180.156,  # glucose
    "14647-2": 386.654,  # total cholesterol
    "22748-8": 386.654,  # LDL cholesterol
    "14646-4": 386.654,  # HDL cholesterol
    "14927-8": 885.7,  # triglycerides (as triolein, the laboratory convention)
    "14682-9": 113.12,  # creatinine
}

_UCUM_SYMBOLS = {"[degF]": "degF", "mm[Hg]": "mmHg", "[iU]": "IU", "[IU]": "IU", "%": "percent"}
_UCUM_WORDS = {"Cel": "degC", "h": "hour"}


@functools.cache
def registry() -> pint.UnitRegistry:
    """pint's registry with what UCUM adds: powers of ten as units, international units."""
    units: pint.UnitRegistry = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    units.define("international_unit = [international_unit] = IU")
    for power in (3, 6, 9, 12):
        units.define(f"ucum_ten_{power} = 1e{power}")
    return units


def _ucum_to_pint(unit: str) -> str:
    text = re.sub(r"\{[^}]*\}", "1", unit.strip())  # annotations are unit 1
    text = re.sub(r"10\*(\d+)", r"ucum_ten_\1", text)
    for ucum, symbol in _UCUM_SYMBOLS.items():
        text = text.replace(ucum, symbol)
    for ucum, word in _UCUM_WORDS.items():
        text = re.sub(rf"\b{ucum}\b", word, text)
    text = re.sub(r"([A-Za-z])(\d)(?![\w])", r"\1**\2", text)  # m2 -> m**2
    if text.startswith("/"):
        text = "1" + text
    return text


@functools.cache
def parse(unit: str | None) -> Any:
    """The pint unit of a UCUM unit, or None if pint cannot read it."""
    if not unit or len(unit) > 32:
        return None
    try:
        return registry().parse_units(_ucum_to_pint(unit))
    except (pint.errors.PintError, ValueError, TypeError, AttributeError, KeyError):
        return None


def _is(unit: str | None, *names: str) -> bool:
    return (unit or "").strip().lower() in names


def _hba1c(value: float, source: str | None, target: str | None) -> float | None:
    if _is(source, "%") and _is(target, "mmol/mol"):
        return (value - NGSP_INTERCEPT) / NGSP_SLOPE
    if _is(source, "mmol/mol") and _is(target, "%"):
        return NGSP_SLOPE * value + NGSP_INTERCEPT
    if source == target:
        return value
    return None


def convert(value: float, source: str | None, target: str | None, key: str) -> float | None:
    """`value` in `source` expressed in `target` for the test `key`, or None if the two
    units do not convert (different dimensions, a unit pint cannot read).

    Every conversion here is affine (a scale, a temperature's offset, the HbA1c equation),
    so each pair of units is worked out through pint once and kept as `a x value + b`.
    """
    if source == target:
        return value
    line = _affine(source, target, key)
    return None if line is None else line[0] * value + line[1]


@functools.cache
def _affine(source: str | None, target: str | None, key: str) -> tuple[float, float] | None:
    at_zero, at_one = _convert(0.0, source, target, key), _convert(1.0, source, target, key)
    if at_zero is None or at_one is None:
        return None
    return at_one - at_zero, at_zero


def _convert(value: float, source: str | None, target: str | None, key: str) -> float | None:
    if key in HBA1C_KEYS:
        return _hba1c(value, source, target)
    from_unit, to_unit = parse(source), parse(target)
    if from_unit is None or to_unit is None:
        return None
    quantity = registry().Quantity(value, from_unit)
    try:
        if key in MOLAR_MASS:
            molar_mass = registry().Quantity(MOLAR_MASS[key], "g/mol")
            converted = quantity.to(to_unit, "chemistry", mw=molar_mass)
        else:
            converted = quantity.to(to_unit)
    except pint.errors.DimensionalityError:
        return None
    return float(converted.magnitude)


def converts(source: str | None, target: str | None, key: str) -> bool:
    """Whether results in `source` can join a series shown in `target`."""
    return convert(1.0, source, target, key) is not None
