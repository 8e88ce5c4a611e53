"""Context rules: negation, history, family, hypothetical; sentences and sections."""

from __future__ import annotations

import pytest

from app.pipeline.ai.detect import detect
from app.pipeline.ai.lexicon import default_lexicon
from app.pipeline.ai.text import Analysis
from app.pipeline.layout import DocumentText


def flags_of(text: str, mention: str) -> set[str]:
    entities = detect(DocumentText(text), default_lexicon())
    (found,) = [e for e in entities if e.text.lower() == mention.lower()]
    return {f for f in ("negated", "historical", "family", "hypothetical") if getattr(found, f)}


@pytest.mark.parametrize(
    ("text", "mention", "flags"),
    [
        ("She denies chest pain.", "chest pain", {"negated"}),
        ("No evidence of pneumonia.", "pneumonia", {"negated"}),
        ("Negative for DVT.", "DVT", {"negated"}),
        ("Pulmonary embolism was ruled out.", "Pulmonary embolism", {"negated"}),
        ("No fever, cough or shortness of breath.", "shortness of breath", {"negated"}),
        ("Fever was denied.", "Fever", {"negated"}),
        ("No change in her cough.", "cough", set()),  # a pseudo-trigger
        ("Denies chest pain but reports cough.", "cough", set()),  # the scope ends at "but"
        ("She has a history of asthma.", "asthma", {"historical"}),
        ("3 day history of cough.", "cough", set()),  # the duration of a complaint
        ("Previous myocardial infarction.", "myocardial infarction", {"historical"}),
        ("Pneumonia in 2019, now resolved.", "Pneumonia", {"historical"}),
        ("Her mother had breast cancer.", "breast cancer", {"family"}),
        ("Bowel cancer in his father.", "Bowel cancer", {"family"}),
        ("There is no family history of stroke.", "stroke", {"negated", "family"}),
        ("Return if chest pain develops.", "chest pain", {"hypothetical"}),
        ("If she develops a fever, call.", "fever", {"hypothetical"}),
        ("Plan: Should haemoptysis occur, re-refer.", "haemoptysis", {"hypothetical"}),
        ("She should continue metformin.", "metformin", set()),  # "should" only opens
    ],
)
def test_context_flags(text: str, mention: str, flags: set[str]) -> None:
    assert flags_of(text, mention) == flags


def test_sections_give_context_until_a_gap_or_the_next_header() -> None:
    text = (
        "Past medical history:\n- Asthma\nFamily history:\n- Stroke\n"
        "She reports a cough and has hypertension."
    )
    assert flags_of(text, "Asthma") == {"historical"}
    assert flags_of(text, "Stroke") == {"family"}
    assert flags_of(text, "hypertension") == set()  # prose ends the list section


def test_a_service_is_not_a_condition() -> None:
    entities = detect(
        DocumentText("cc: Diabetes specialist nurse, Asthma clinic"), default_lexicon()
    )
    assert entities == []


def test_an_allergen_outside_an_allergy_context_is_no_mention() -> None:
    entities = detect(
        DocumentText("Latex gloves were used. She is allergic to latex."), default_lexicon()
    )
    assert [(e.type, e.text) for e in entities] == [("allergy", "latex")]


def test_a_medicine_in_the_allergy_section_is_an_allergy_with_its_reaction() -> None:
    text = "Allergies: Codeine (nausea), penicillin - anaphylaxis\nNKDA"
    entities = detect(DocumentText(text), default_lexicon())
    assert [(e.type, e.text, e.negated) for e in entities] == [
        ("allergy", "Codeine (nausea)", False),
        ("allergy", "penicillin - anaphylaxis", False),
        ("allergy", "NKDA", True),
    ]


def test_sentences_run_on_across_wrapped_lines_but_not_abbreviations() -> None:
    text = "He was started on\namlodipine 5 mg p.o. once daily. Seen by Dr. Patel.\nNo fever."
    analysis = Analysis(DocumentText(text))
    spans = [text[s.start : s.end].strip() for s in analysis.sentences]
    assert spans == [
        "He was started on\namlodipine 5 mg p.o. once daily.",
        "Seen by Dr. Patel.",
        "No fever.",
    ]


def test_a_header_inside_a_section_word_is_not_a_mention() -> None:
    entities = detect(DocumentText("Diabetes monitoring\nHbA1c 58 mmol/mol"), default_lexicon())
    assert [(e.type, e.text) for e in entities] == [("lab_result", "HbA1c 58 mmol/mol")]
