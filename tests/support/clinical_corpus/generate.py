"""The synthetic corpus: `corpus(seed)` and the generators of its kinds of document.

Each generator takes a seeded RNG and a document id and returns a `CorpusDocument`;
names, values, dates, phrasings, section order and layout all come from the RNG,
so the same seed gives the same corpus.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from tests.support.clinical_corpus.documents import CorpusDocument
from tests.support.clinical_corpus.letters import clinic_letter, discharge_summary
from tests.support.clinical_corpus.mentions import Doc
from tests.support.clinical_corpus.phrasing import advice_sentence, denial
from tests.support.clinical_corpus.vocabulary import (
    CONDITIONS,
    HOSPITALS,
    PANELS,
    PRACTICES,
    RULED_OUT,
    VACCINES,
    WARDS,
)
from tests.support.clinical_corpus.writer import M, Part


def lab_report(rng: random.Random, doc_id: str) -> CorpusDocument:
    d = Doc(rng, doc_id, "lab_report")
    w = d.w
    title = d.pick(("Laboratory report", "Pathology report", "Blood test results", "Lab results"))
    w.line(f"{d.pick(HOSPITALS)} Pathology")
    w.line(title)
    w.line(f"Patient: {d.name}, DOB: {d.dob()}")
    collected, _ = d.date()
    reported, iso = d.date()
    w.line(f"Collected: {collected} Reported: {reported}")
    w.document_date = iso
    w.line(f"Requested by: {d.doctor}")
    w.gap()
    panels = rng.sample(PANELS, rng.randint(2, 4))
    two_pages = rng.random() < 0.4
    for index, (panel, tests) in enumerate(panels):
        if two_pages and index == len(panels) // 2 and index:
            w.line("Page 1 of 2")
            w.page_break()
        w.line(panel)
        if rng.random() < 0.4:
            w.line("Test Result Units Reference range")
        for test in tests:
            if test in d.used:
                continue
            d.used.add(test)
            w.line(d.lab(test))
        w.gap()
    _lab_comment(d)
    w.line(f"Authorised by: {d.doctor}, Consultant Chemical Pathologist")
    return w.build()


def _lab_comment(d: Doc) -> None:
    style = d.rng.randrange(4)
    if style == 0:
        d.w.line("Comment: Results consistent with ", d.condition(CONDITIONS), ".")
    elif style == 1:
        d.w.line(
            "Comment: No evidence of ", d.condition(RULED_OUT, status="negated", negated=True), "."
        )
    elif style == 2:
        d.w.line("Comment: Please repeat in 3 months.")


def vitals_record(rng: random.Random, doc_id: str) -> CorpusDocument:
    d = Doc(rng, doc_id, "vitals_record")
    w = d.w
    title = d.pick(("Observation chart", "Vital signs record", "Nursing observations"))
    d.header(title, f"{d.pick(HOSPITALS)} - {d.pick(WARDS)}", "Date")
    sets = rng.randint(1, 3)
    for index in range(sets):
        if index == 2:
            w.line("Page 1 of 2")
            w.page_break()
        w.line(f"Observations at {rng.randint(6, 22):02d}:{rng.choice(('00', '15', '30', '45'))}")
        kinds = [
            "blood_pressure",
            "heart_rate",
            "temperature",
            "respiratory_rate",
            "oxygen_saturation",
        ]
        if index == 0 and rng.random() < 0.6:
            kinds += ["weight", "height", "bmi"]
        if rng.random() < 0.4:
            parts: list[Part] = []
            for position, kind in enumerate(kinds):
                parts += ([", "] if position else []) + [d.vital(kind, compact=True)]
            w.para(*parts, width=80)
        else:
            for kind in kinds:
                w.line(d.vital(kind))
        w.line(f"NEWS2 score: {rng.randint(0, 6)}")
        w.gap()
    _vitals_comment(d)
    w.line(f"Recorded by: Staff Nurse {d.pick(('Jones', 'Adeyemi', 'Murphy', 'Kowalski'))}")
    return w.build()


def _vitals_comment(d: Doc) -> None:
    style = d.rng.randrange(3)
    if style == 0:
        d.w.para("Comment: Patient reports ", d.symptom(), ". ", *denial(d), width=84)
    elif style == 1:
        d.w.para("Comment: ", *denial(d), " ", *advice_sentence(d), width=84)


def medication_list(rng: random.Random, doc_id: str) -> CorpusDocument:
    d = Doc(rng, doc_id, "medication_list")
    w = d.w
    title = d.pick(("Medication list", "Repeat prescriptions", "Medication record"))
    d.header(title, d.pick(PRACTICES), d.pick(("Date printed", "Date")))
    w.line(d.pick(("Current medications:", "Repeat medications:", "Regular medications")))
    bullet = d.pick(("", "- ", "numbered"))
    for index in range(rng.randint(4, 8)):
        prefix = f"{index + 1}. " if bullet == "numbered" else bullet
        w.line(prefix, *d.medication())
    w.gap()
    if rng.random() < 0.6:
        w.line(d.pick(("Stopped medications:", "Discontinued medications:")))
        for _ in range(rng.randint(1, 2)):
            parts = d.medication(status="stopped")
            written, _ = d.date()
            w.line(*parts, f" - stopped {written}")
        w.gap()
    d.allergy_line()
    w.gap()
    if rng.random() < 0.5:
        w.line(d.pick(("Problems:", "Active problems:", "Problem list:")))
        for _ in range(rng.randint(1, 3)):
            w.line(d.condition(CONDITIONS, lower=False))
        w.gap()
    if rng.random() < 0.5:
        _immunisations(d)
    return w.build()


def _immunisations(d: Doc) -> None:
    w = d.w
    w.line(d.pick(("Immunisations:", "Vaccinations:")))
    for _ in range(d.rng.randint(1, 2)):
        names, bare, canonical = d.fresh(VACCINES, lambda v: v[2])
        written, iso = d.date(2019, 2024)
        text = bare if d.rng.random() < 0.5 else names[0]
        w.line(M(text, "immunization"), f" {written}")
        w.record("immunizations", vaccine=canonical, date=iso)
    w.gap()


KINDS: dict[str, Callable[[random.Random, str], CorpusDocument]] = {
    "lab_report": lab_report,
    "vitals_record": vitals_record,
    "medication_list": medication_list,
    "discharge_summary": discharge_summary,
    "clinic_letter": clinic_letter,
}
PREFIX = {
    "lab_report": "lab",
    "vitals_record": "obs",
    "medication_list": "meds",
    "discharge_summary": "dis",
    "clinic_letter": "letter",
}


def corpus(seed: int = 20240312, per_kind: int = 10) -> list[CorpusDocument]:
    """`per_kind` documents of each kind, the same for the same seed."""
    rng = random.Random(seed)
    documents = []
    for kind, make in KINDS.items():
        for number in range(1, per_kind + 1):
            documents.append(make(random.Random(rng.random()), f"{PREFIX[kind]}-{number:02d}"))
    return documents
