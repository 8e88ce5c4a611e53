"""`Doc`: one generated document's RNG and writer, with the mentions every kind of
document uses, each written with its gold record (medicines, results, readings,
conditions, symptoms, findings, allergies)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from tests.support.clinical_corpus.vocabulary import (
    ALLERGENS,
    BOUNDED,
    DOCTORS,
    FINDINGS,
    FREQUENCIES,
    LABS,
    MEDICINES,
    MONTH_NAMES,
    PATIENTS,
    ROUTES,
    SPOKEN,
    SYMPTOMS,
    UNLISTED,
)
from tests.support.clinical_corpus.writer import M, Part, Writer


class Doc:
    """The RNG and writer of one document, with the helpers every kind uses."""

    def __init__(self, rng: random.Random, doc_id: str, kind: str) -> None:
        self.rng = rng
        self.w = Writer(doc_id, kind)
        self.name, self.pronoun = rng.choice(PATIENTS)
        self.doctor = rng.choice(DOCTORS)
        self.used: set[str] = set()

    @property
    def she(self) -> str:
        return self.pronoun

    @property
    def She(self) -> str:
        return self.pronoun.capitalize()

    @property
    def her(self) -> str:
        return "her" if self.pronoun == "she" else "his"

    def pick(self, options: Sequence[Any]) -> Any:
        return self.rng.choice(options)

    def fresh(self, options: Sequence[Any], key: Callable[[Any], str]) -> Any:
        """An option not used yet in this document (by `key`)."""
        left = [option for option in options if key(option) not in self.used]
        choice = self.rng.choice(left or list(options))
        self.used.add(key(choice))
        return choice

    def date(self, year_from: int = 2022, year_to: int = 2025) -> tuple[str, str]:
        """(as written, ISO): day-first numeric, ISO or written out."""
        year = self.rng.randint(year_from, year_to)
        month, day = self.rng.randint(1, 12), self.rng.randint(1, 28)
        iso = f"{year}-{month:02d}-{day:02d}"
        style = self.rng.randrange(5)
        written = (
            f"{day:02d}/{month:02d}/{year}",
            iso,
            f"{day} {MONTH_NAMES[month - 1]} {year}",
            f"{day:02d}-{MONTH_NAMES[month - 1][:3]}-{year}",
            f"{day}/{month}/{year}",
        )[style]
        return written, iso

    def dob(self) -> str:
        return self.date(1935, 1990)[0]

    def header(self, title: str, place: str, date_label: str) -> None:
        w = self.w
        w.line(place)
        w.line(title)
        w.line(f"Patient: {self.name}, DOB: {self.dob()}")
        if self.rng.random() < 0.5:
            number = self.rng.randint(100, 999)
            w.line(
                f"NHS number: {number} {self.rng.randint(100, 999)} {self.rng.randint(1000, 9999)}"
            )
        written, iso = self.date()
        w.line(f"{date_label}: {written}")
        w.document_date = iso
        w.gap()

    # ---- mentions with their records
    def medication(self, pool: Sequence[Any] = MEDICINES, status: str = "active") -> list[Part]:
        if pool is MEDICINES and self.rng.random() < 0.04:
            pool = UNLISTED
        display, name, strengths, unit, ucum = self.fresh(pool, lambda m: m[1])
        strength = self.pick(strengths)
        canonical = self.pick(tuple(FREQUENCIES))
        written = self.pick(FREQUENCIES[canonical])
        strength_text = f"{strength:g} {unit}" if self.rng.random() < 0.7 else f"{strength:g}{unit}"
        if unit == "micrograms":
            strength_text = f"{strength:g} micrograms"
        route, dose, text = None, None, ""
        style = self.rng.randrange(6)
        if style == 0:
            route = "oral"
            text = f"{display} {strength_text} {self.pick(ROUTES['oral'])} {written}"
        elif style == 1:
            dose = self.pick((1, 2)) if strength < 100 else 1
            count = {1: "one", 2: "two"}[dose] if self.rng.random() < 0.5 else str(dose)
            tablets = "tablet" if dose == 1 else "tablets"
            text = f"{display} {strength_text} tablets - take {count} {tablets} {written}"
        elif style == 2 and canonical in ("four times daily", "three times daily"):
            text = f"{display} {strength_text} {written} as required"
            canonical = f"{canonical} as needed"
        elif style == 3:
            dose = 1
            text = f"{display} {strength_text} tablets, one to be taken {SPOKEN[canonical]}"
        else:
            text = f"{display} {strength_text} {written}"
        if self.rng.random() < 0.08:
            text = text.upper()
        self.w.record(
            "medications",
            name=name,
            strength=float(strength),
            strength_unit=ucum,
            dose=None if dose is None else float(dose),
            route=route,
            frequency=canonical,
            status=status,
        )
        return [M(text, "medication")]

    def condition(
        self, pool: Sequence[Any], status: str = "active", lower: bool = True, **flags: bool
    ) -> M:
        names, canonical = self.fresh(pool, lambda c: c[1])
        text = self.pick(names)
        if not lower and text.islower():
            text = text[0].upper() + text[1:]
        self.w.record("conditions", name=canonical, status=status)
        return M(text, "condition", **flags)

    def symptom(self, **flags: bool) -> M:
        return M(self.fresh(SYMPTOMS, lambda s: s), "observation", **flags)

    def finding(self, capital: bool = False, **flags: bool) -> M:
        text = self.fresh(FINDINGS, lambda s: s)
        return M(text.capitalize() if capital else text, "physical_finding", **flags)

    def lab(self, canonical: str | None = None, *, prose: bool = False) -> M:
        if canonical is None:
            spec = self.fresh(LABS, lambda spec: spec[1])
        else:
            spec = next((s for s in LABS if s[1] == canonical), None)
        if spec is None:
            return self._bounded_lab(canonical, prose=prose)
        names, name, units, low, high, decimals = spec
        unit, ucum = self.pick(units)
        value = self._value(low, high, decimals)
        label = self.pick(names)
        if prose:
            self.w.record("lab_results", test=name, value=value, unit=ucum, abnormal_flag=None)
            return M(f"{label} {value:.{decimals}f} {unit}", "lab_result")
        flag_text, flag = self._flag(value, low, high)
        range_text = self._range(low, high, decimals)
        text = self._row(label, f"{value:.{decimals}f}", unit, range_text, flag_text)
        self.w.record("lab_results", test=name, value=value, unit=ucum, abnormal_flag=flag)
        return M(text, "lab_result")

    def _bounded_lab(self, canonical: str | None, *, prose: bool) -> M:
        spec = next(s for s in BOUNDED if s[1] == canonical)
        names, name, unit, ucum, op, bound, decimals = spec
        label = self.pick(names)
        if op == "<":
            value = round(
                self.rng.uniform(bound * 0.2, bound * (3 if self.rng.random() < 0.4 else 0.95)),
                decimals,
            )
            flag = "H" if value > bound else "N"
        else:
            value = round(self.rng.uniform(bound * 0.3, bound * 0.98), decimals)
            flag = "L"
        shown = f"{value:.{decimals}f}"
        if prose:
            self.w.record("lab_results", test=name, value=value, unit=ucum, abnormal_flag=None)
            return M(f"{label} {shown} {unit}", "lab_result")
        range_text = self.pick((f"({op}{bound:g})", f"({op} {bound:g})", f"[{op}{bound:g}]"))
        text = self._row(label, shown, unit, range_text, "")
        self.w.record("lab_results", test=name, value=value, unit=ucum, abnormal_flag=flag)
        return M(text, "lab_result")

    def _value(self, low: float, high: float, decimals: int) -> float:
        roll = self.rng.random()
        if roll < 0.18:
            value = self.rng.uniform(high * 1.05, high * 1.5)
        elif roll < 0.3 and low > 0:
            value = self.rng.uniform(low * 0.6, low * 0.95)
        else:
            value = self.rng.uniform(low + (high - low) * 0.1, high - (high - low) * 0.1)
        return round(value, decimals)

    def _flag(self, value: float, low: float, high: float) -> tuple[str, str]:
        """(flag as printed, gold flag): a printed flag, or none (the range decides)."""
        gold = "H" if value > high else "L" if value < low else "N"
        style = self.rng.randrange(4)
        if gold == "N":
            return ("N" if style == 0 else ""), "N"
        arrow = {"H": "\u2191", "L": "\u2193"}[gold]
        shown = (gold, {"H": "High", "L": "Low"}[gold], f"({gold})", "", arrow)[
            style if style < 3 else self.rng.choice((3, 4))
        ]
        return shown, gold

    def _range(self, low: float, high: float, decimals: int) -> str:
        lo, hi = f"{low:.{decimals}f}", f"{high:.{decimals}f}"
        return self.pick((f"({lo}-{hi})", f"[{lo} - {hi}]", f"{lo}-{hi}", f"(ref {lo}-{hi})"))

    def _row(self, label: str, value: str, unit: str, range_text: str, flag: str) -> str:
        style = self.rng.randrange(4)
        if style == 0:
            parts = [label, value, unit, range_text, flag]
        elif style == 1:
            parts = [f"{label}:", value, unit, flag, range_text]
        elif style == 2:
            parts = [label, value, unit, flag, range_text]
        else:
            parts = [label, value, flag, range_text, unit]
        return " ".join(part for part in parts if part)

    def vital(self, kind: str, *, compact: bool = False) -> M:
        maker = VITALS[kind]
        text, record = maker(self.rng, compact)
        self.w.record("vitals", type=kind, **record)
        return M(text, "vital_sign")

    def allergy_line(self) -> None:
        w = self.w
        if self.rng.random() < 0.3:
            text = self.pick(("NKDA", "No known drug allergies", "No known allergies"))
            w.line("Allergies: ", M(text, "allergy", negated=True))
            return
        label = self.pick(("Allergies", "Drug allergies", "Allergies and adverse reactions"))
        count = self.rng.randint(1, 2)
        items = []
        for _ in range(count):
            display, name, reactions = self.fresh(ALLERGENS, lambda a: a[1])
            reaction = self.pick(reactions)
            style = self.rng.randrange(3)
            text = (f"{display} ({reaction})", f"{display} - {reaction}", f"{display}: {reaction}")[
                style
            ]
            w.record("allergies", substance=name, reaction=reaction)
            items.append(M(text, "allergy"))
        if self.rng.random() < 0.5:
            w.line(f"{label}:")
            for item in items:
                w.line(item)
        else:
            parts: list[Part] = [f"{label}: "]
            for index, item in enumerate(items):
                parts += ([", "] if index else []) + [item]
            w.line(*parts)


def _bp(rng: random.Random, compact: bool) -> tuple[str, dict[str, Any]]:
    systolic, diastolic = rng.randint(100, 178), rng.randint(58, 102)
    label = rng.choice(("BP", "Blood pressure:", "BP:", "Blood pressure"))
    unit = rng.choice((" mmHg", " mmHg", ""))
    return f"{'BP' if compact else label} {systolic}/{diastolic}{unit}", {
        "value": None,
        "unit": "mm[Hg]",
        "systolic": float(systolic),
        "diastolic": float(diastolic),
    }


def _simple(
    labels: Sequence[str],
    units: Sequence[str],
    low: float,
    high: float,
    ucum: str,
    decimals: int = 0,
) -> Callable[[random.Random, bool], tuple[str, dict[str, Any]]]:
    def make(rng: random.Random, compact: bool) -> tuple[str, dict[str, Any]]:
        value = round(rng.uniform(low, high), decimals)
        label = labels[0] if compact else rng.choice(labels)
        unit = rng.choice(units)
        shown = f"{value:.{decimals}f}"
        text = f"{label} {shown}{unit}"
        return text, {"value": float(shown), "unit": ucum, "systolic": None, "diastolic": None}

    return make


def _temperature(rng: random.Random, compact: bool) -> tuple[str, dict[str, Any]]:
    celsius = round(rng.uniform(36.0, 39.4), 1)
    label = "Temp" if compact else rng.choice(("Temp", "Temperature", "T", "Temp:"))
    if rng.random() < 0.3:
        fahrenheit = round(celsius * 9 / 5 + 32, 1)
        text = f"{label} {fahrenheit:.1f}" + rng.choice((" F", "\u00b0F", " \u00b0F"))
        celsius = round((fahrenheit - 32) * 5 / 9, 1)
    else:
        text = f"{label} {celsius:.1f}" + rng.choice((" C", "\u00b0C", " \u00b0C", "C"))
    return text, {"value": celsius, "unit": "Cel", "systolic": None, "diastolic": None}


def _weight(rng: random.Random, compact: bool) -> tuple[str, dict[str, Any]]:
    kg = round(rng.uniform(52, 118), 1)
    if rng.random() < 0.2:
        pounds = round(kg / 0.45359237)
        return f"Weight {pounds} lb", {
            "value": round(pounds * 0.45359237, 1),
            "unit": "kg",
            "systolic": None,
            "diastolic": None,
        }
    label = "Weight" if compact else rng.choice(("Weight", "Wt", "Weight:"))
    return f"{label} {kg:.1f} kg", {"value": kg, "unit": "kg", "systolic": None, "diastolic": None}


def _height(rng: random.Random, compact: bool) -> tuple[str, dict[str, Any]]:
    cm = rng.randint(150, 192)
    if rng.random() < 0.3:
        return f"Height {cm / 100:.2f} m", {
            "value": float(cm),
            "unit": "cm",
            "systolic": None,
            "diastolic": None,
        }
    label = "Height" if compact else rng.choice(("Height", "Ht"))
    return f"{label} {cm} cm", {
        "value": float(cm),
        "unit": "cm",
        "systolic": None,
        "diastolic": None,
    }


VITALS: dict[str, Callable[[random.Random, bool], tuple[str, dict[str, Any]]]] = {
    "blood_pressure": _bp,
    "heart_rate": _simple(
        ("HR", "Pulse", "Heart rate:", "Pulse rate"),
        (" bpm", " /min", " beats per minute", ""),
        52,
        118,
        "/min",
    ),
    "temperature": _temperature,
    "respiratory_rate": _simple(
        ("RR", "Resp rate", "Respiratory rate:"), ("", " /min", " breaths/min"), 12, 28, "/min"
    ),
    "oxygen_saturation": _simple(
        ("SpO2", "Sats", "O2 saturation", "SpO2:"), ("%", " %"), 88, 100, "%"
    ),
    "weight": _weight,
    "height": _height,
    "bmi": _simple(("BMI", "BMI:"), ("", " kg/m2"), 18.5, 38.0, "kg/m2", 1),
}
