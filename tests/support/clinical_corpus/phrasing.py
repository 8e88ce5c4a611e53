"""Sentences of generated prose, each returned as the parts of one sentence.

Some phrasings are beyond the local provider's rules on purpose ("Free from X.",
"X: none.", "She had X in 2015.", "Safety-net advice was given about X."), so the
scores show its limits.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.support.clinical_corpus.mentions import Doc
from tests.support.clinical_corpus.vocabulary import FAMILY_CONDITIONS, PAST_CONDITIONS, RULED_OUT
from tests.support.clinical_corpus.writer import M, Part


def capitalised(mention: M) -> M:
    return M(
        mention.text[0].upper() + mention.text[1:],
        mention.type,
        mention.negated,
        mention.historical,
        mention.family,
        mention.hypothetical,
    )


def denial(d: Doc) -> list[Part]:
    x = d.symptom(negated=True)
    options: list[list[Part]] = [
        [f"{d.She} denies ", x, "."],
        ["No ", x, "."],
        [f"{d.She} has not had any ", x, "."],
        ["There was no ", x, "."],
        [capitalised(x), " was not present."],
        ["Negative for ", x, "."],
        [f"{d.She} did not report any ", x, "."],
        [capitalised(x), " was denied."],
        ["Free from ", x, "."],
        [capitalised(x), ": none."],
    ]
    return d.pick(options)


def history_sentence(d: Doc) -> list[Part]:
    year = d.rng.randint(2005, 2021)
    She = d.She

    def past(capital: bool = False, status: str = "history") -> M:
        return d.condition(PAST_CONDITIONS, status=status, lower=not capital, historical=True)

    options: list[Callable[[], list[Part]]] = [
        lambda: [f"{She} has a history of ", past(), "."],
        lambda: ["There is a past history of ", past(), "."],
        lambda: [f"{She} had a previous ", past(), "."],
        lambda: ["h/o ", past(), "."],
        lambda: [f"{She} had ", past(), f" in {year}."],
        lambda: [capitalised(past(status="resolved")), f" in {year}, now resolved."],
    ]
    return d.pick(options)()


def family_sentence(d: Doc) -> list[Part]:
    relative = d.pick(("mother", "father", "brother", "sister"))
    her = d.her.capitalize()

    def relative_had(capital: bool = False) -> M:
        return d.condition(FAMILY_CONDITIONS, status="family", family=True, lower=not capital)

    options: list[Callable[[], list[Part]]] = [
        lambda: [f"{her} {relative} had ", relative_had(), "."],
        lambda: ["There is a family history of ", relative_had(), "."],
        lambda: [capitalised(relative_had()), f" in {d.her} {relative}."],
        lambda: [
            "There is no family history of ",
            d.condition(RULED_OUT, status="negated", negated=True, family=True),
            ".",
        ],
        lambda: [f"{her} late {relative} suffered from ", relative_had(), "."],
        lambda: [capitalised(relative_had()), " runs in the family."],
        lambda: ["Maternal grandmother had ", relative_had(), "."],
    ]
    return d.pick(options)()


def advice_sentence(d: Doc) -> list[Part]:
    x = d.symptom(hypothetical=True)
    options: list[list[Part]] = [
        ["Return if ", x, " develops."],
        [f"{d.She} should seek medical advice if ", x, " recurs."],
        [f"If {d.she} develops ", x, ", please refer back to the medical team."],
        [f"{d.She} was advised to return in case of ", x, "."],
        ["Should ", x, " occur, please re-refer."],
        ["Safety-net advice was given about ", x, "."],
    ]
    return d.pick(options)


def prose_vital(d: Doc, kind: str) -> M:
    """A reading as a letter writes it ("her blood pressure was 142/91 mmHg")."""
    rng = d.rng
    if kind == "blood_pressure":
        systolic, diastolic = rng.randint(104, 176), rng.randint(60, 100)
        text = rng.choice(
            (
                f"blood pressure was {systolic}/{diastolic} mmHg",
                f"BP was {systolic}/{diastolic}",
                f"BP {systolic} / {diastolic}",
                f"BP {systolic} over {diastolic}",
            )
        )
        record = {"value": None, "systolic": float(systolic), "diastolic": float(diastolic)}
        d.w.record("vitals", type=kind, unit="mm[Hg]", **record)
        return M(text, "vital_sign")
    if kind == "heart_rate":
        rate = rng.randint(54, 110)
        text = rng.choice((f"pulse {rate}", f"pulse was {rate} bpm", f"heart rate of {rate}"))
        d.w.record("vitals", type=kind, value=float(rate), unit="/min")
        return M(text, "vital_sign")
    if kind == "temperature":
        celsius = round(rng.uniform(36.2, 39.0), 1)
        text = rng.choice((f"temperature of {celsius} degrees", f"temperature was {celsius}C"))
        d.w.record("vitals", type=kind, value=celsius, unit="Cel")
        return M(text, "vital_sign")
    sats = rng.randint(90, 99)
    text = rng.choice((f"saturations were {sats}%", f"oxygen saturation {sats}%"))
    d.w.record("vitals", type="oxygen_saturation", value=float(sats), unit="%")
    return M(text, "vital_sign")
