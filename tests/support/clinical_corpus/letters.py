"""Discharge summaries and clinic letters: the generated kinds of document written
mostly as prose, section by section."""

from __future__ import annotations

import random

from tests.support.clinical_corpus.documents import CorpusDocument
from tests.support.clinical_corpus.mentions import Doc
from tests.support.clinical_corpus.phrasing import (
    advice_sentence,
    capitalised,
    denial,
    family_sentence,
    history_sentence,
    prose_vital,
)
from tests.support.clinical_corpus.vocabulary import (
    ACUTE,
    ALLERGENS,
    CONDITIONS,
    DIAGNOSES,
    DOCTORS,
    FAMILY_CONDITIONS,
    HOSPITALS,
    OPERATIONS,
    PAST_CONDITIONS,
    RULED_OUT,
    VACCINES,
    WARDS,
)
from tests.support.clinical_corpus.writer import M, Part


def discharge_summary(rng: random.Random, doc_id: str) -> CorpusDocument:
    d = Doc(rng, doc_id, "discharge_summary")
    w = d.w
    w.line(f"{d.pick(HOSPITALS)} NHS Trust")
    w.line(d.pick(("Discharge summary", "Discharge letter", "Inpatient discharge summary")))
    w.line(f"Patient: {d.name}, DOB: {d.dob()}")
    admitted, _ = d.date()
    discharged, iso = d.date()
    w.line(f"Admission date: {admitted} Discharge date: {discharged}")
    w.document_date = iso
    w.line(f"Consultant: {d.doctor}, {d.pick(WARDS)}")
    w.gap()
    _admission(d)
    _past_history(d)
    _family_history(d)
    w.line("Page 1 of 2")
    w.page_break()
    _examination(d)
    _investigations(d)
    _diagnosis(d)
    w.line(d.pick(("Medications on discharge:", "Discharge medications:")))
    w.line(*d.medication(ACUTE, status="active"), " for 5 days")
    for _ in range(rng.randint(2, 4)):
        w.line(*d.medication())
    w.gap()
    d.allergy_line()
    w.gap()
    _advice(d)
    return w.build()


def _admission(d: Doc) -> None:
    first, second = d.symptom(), d.symptom()
    d.w.line("Presenting complaint:")
    d.w.para(
        f"{d.rng.randint(2, 6)} day history of ",
        first,
        " and ",
        second,
        ". ",
        *denial(d),
        " ",
        *denial(d),
        width=d.rng.randint(70, 95),
    )
    d.w.gap()


def _past_history(d: Doc) -> None:
    w = d.w
    w.line(d.pick(("Past medical history:", "PMH:", "Previous medical history:")))
    for _ in range(d.rng.randint(2, 3)):
        w.line("- ", d.condition(CONDITIONS, status="history", lower=False, historical=True))
    year = d.rng.randint(2008, 2021)
    past = d.condition(PAST_CONDITIONS, status="history", historical=True)
    w.line("- Previous ", past, f" ({year})")
    d.w.records["conditions"][-1]["onset_date"] = str(year)
    if d.rng.random() < 0.5:
        names, canonical = d.fresh(OPERATIONS, lambda o: o[1])
        op_year = d.rng.randint(1990, 2020)
        w.line("- ", M(names[0], "procedure", historical=True), f" {op_year}")
        w.record("procedures", name=canonical, date=str(op_year))
    w.gap()


def _family_history(d: Doc) -> None:
    relative = d.pick(("Mother", "Father", "Brother", "Sister"))
    condition = d.condition(FAMILY_CONDITIONS, status="family", family=True)
    if d.rng.random() < 0.5:
        d.w.line("Family history: ", relative, " - ", condition)
    else:
        d.w.line("Family history: ", f"{relative} had ", condition, ".")
    d.w.gap()


def _examination(d: Doc) -> None:
    d.w.line("Examination:")
    d.w.para(
        d.finding(),
        " noted. No ",
        d.finding(negated=True),
        ". Heart sounds normal.",
        width=d.rng.randint(70, 95),
    )
    parts: list[Part] = ["Observations on admission: "]
    for index, kind in enumerate(
        ("temperature", "heart_rate", "blood_pressure", "oxygen_saturation")
    ):
        parts += ([", "] if index else []) + [d.vital(kind, compact=True)]
    d.w.para(*parts, ".", width=d.rng.randint(70, 95))
    d.w.gap()


def _investigations(d: Doc) -> None:
    parts: list[Part] = ["Investigations: "]
    names = d.rng.sample(["CRP", "haemoglobin", "white cell count", "sodium", "creatinine"], 3)
    for index, name in enumerate(names):
        d.used.add(name)
        parts += ([", "] if index else []) + [d.lab(name, prose=True)]
    parts += [
        ". ",
        M("Chest X-ray", "procedure"),
        " showed ",
        M("consolidation", "physical_finding"),
        ".",
    ]
    d.w.record("procedures", name="chest X-ray", date=None)
    d.w.para(*parts, width=d.rng.randint(70, 95))
    d.w.gap()


def _diagnosis(d: Doc) -> None:
    diagnosis = d.condition(DIAGNOSES, lower=False)
    excluded = d.condition(RULED_OUT, status="negated", negated=True)
    style = d.rng.randrange(2)
    if style == 0:
        d.w.line("Diagnosis: ", diagnosis, ". ", capitalised(excluded), " was ruled out.")
    else:
        d.w.line("Diagnosis: ", diagnosis, ". No evidence of ", excluded, ".")
    d.w.gap()


def _advice(d: Doc) -> None:
    lead = d.pick(("Follow-up: GP review in 2 weeks. ", "Advice: ", "Plan: "))
    d.w.para(lead, *advice_sentence(d), width=d.rng.randint(70, 95))


def clinic_letter(rng: random.Random, doc_id: str) -> CorpusDocument:
    d = Doc(rng, doc_id, "clinic_letter")
    w = d.w
    clinic = d.pick(("Cardiology", "Endocrinology", "Respiratory", "General Medicine"))
    w.line(f"{d.pick(HOSPITALS)} - {clinic} Outpatient Clinic")
    written, iso = d.date()
    w.line(f"Date: {written}")
    w.document_date = iso
    w.gap()
    w.line(f"Dear {d.pick(DOCTORS)},")
    w.line(f"Re: {d.name}, DOB: {d.dob()}")
    w.gap()
    w.line("Diagnoses:")
    for index in range(rng.randint(1, 3)):
        w.line(f"{index + 1}. ", d.condition(CONDITIONS, lower=False))
    w.gap()
    width = rng.randint(78, 96)
    _letter_history(d, width)
    _letter_findings(d, width)
    if rng.random() < 0.5:
        w.line("Page 1 of 2")
        w.page_break()
    _letter_medicines(d, width)
    _letter_extras(d, width)
    w.para(f"Yours sincerely, {d.doctor}, Consultant", width=width)
    if rng.random() < 0.3:
        # A team's name is not the patient's condition: the gold has no entity here.
        team = d.pick(("Diabetes specialist nurse", "Heart failure nurse team", "Asthma nurse"))
        w.line(f"cc: {team}")
    return w.build()


def _letter_history(d: Doc, width: int) -> None:
    She = d.She
    opening = d.pick(("reports", "describes", "complains of"))
    d.w.para(
        f"I reviewed {d.name} in clinic today. {She} {opening} ",
        d.symptom(),
        " but denies ",
        d.symptom(negated=True),
        ". ",
        *history_sentence(d),
        " ",
        *family_sentence(d),
        width=width,
    )
    d.w.gap()


def _letter_findings(d: Doc, width: int) -> None:
    if d.rng.random() < 0.5:
        kinds = d.rng.sample(
            ["blood_pressure", "heart_rate", "temperature", "oxygen_saturation"], 2
        )
        first, second = (prose_vital(d, kind) for kind in kinds)
    else:
        vitals = d.rng.sample(["blood_pressure", "heart_rate", "weight", "oxygen_saturation"], 2)
        first, second = (d.vital(kind, compact=True) for kind in vitals)
    lab_a = d.lab(d.pick(["haemoglobin", "potassium", "HbA1c", "creatinine"]), prose=True)
    lab_b = d.lab(d.pick(["eGFR", "total cholesterol", "CRP"]), prose=True)
    d.w.para(
        "On examination ",
        first,
        " and ",
        second,
        ". ",
        d.finding(capital=True),
        " was present but there was no ",
        d.finding(negated=True),
        ". Recent bloods showed ",
        lab_a,
        " and ",
        lab_b,
        ".",
        width=width,
    )
    d.w.gap()


def _letter_medicines(d: Doc, width: int) -> None:
    w = d.w
    w.line("Current medication:")
    for _ in range(d.rng.randint(2, 4)):
        w.line(*d.medication())
    w.gap()
    stopped = d.medication(status="stopped")
    started = d.medication(status="new")
    w.para(
        "Plan: I have stopped ",
        *stopped,
        " and started ",
        *started,
        ". ",
        "If ",
        d.she,
        " develops ",
        d.symptom(hypothetical=True),
        " ",
        d.she,
        " should attend the emergency department.",
        width=width,
    )
    w.gap()


def _letter_extras(d: Doc, width: int) -> None:
    w = d.w
    parts: list[Part] = []
    if d.rng.random() < 0.6:
        names, _, canonical = d.fresh(VACCINES, lambda v: v[2])
        written, iso = d.date(2021, 2024)
        parts += [
            f"{d.She} received {d.her} ",
            M(d.pick(names), "immunization"),
            f" on {written}. ",
        ]
        w.record("immunizations", vaccine=canonical, date=iso)
    if d.rng.random() < 0.6:
        names, canonical = d.fresh(OPERATIONS, lambda o: o[1])
        year = d.rng.randint(1995, 2021)
        parts += [f"{d.She} underwent ", M(names[-1].lower(), "procedure"), f" in {year}. "]
        w.record("procedures", name=canonical, date=str(year))
    parts += [f"{d.She} is allergic to "]
    display, name, _ = d.fresh(ALLERGENS, lambda a: a[1])
    parts += [M(display.lower(), "allergy"), "."]
    w.record("allergies", substance=name, reaction=None)
    w.para(*parts, width=width)
    w.gap()
