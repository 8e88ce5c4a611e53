"""Reading a document's text: sentences and sections."""

from __future__ import annotations

from app.pipeline.ai.local import LocalProvider
from app.pipeline.ai.text import Analysis
from app.pipeline.layout import DocumentText


def analysed(text: str) -> Analysis:
    return Analysis(DocumentText(text, (), ()))


def sections(text: str) -> list[tuple[str, str]]:
    analysis = analysed(text)
    return [(s.name, text[s.start : s.end]) for s in analysis.sections]


def test_an_ocr_speck_is_no_sentence_end() -> None:
    text = "Sodium . 139 mmol/L\nTriglycerides ; 2.1 mmol/L"
    analysis = analysed(text)
    assert [text[s.start : s.end] for s in analysis.sentences] == [
        "Sodium . 139 mmol/L",
        "Triglycerides ; 2.1 mmol/L",
    ]
    found, _ = LocalProvider().detect_entities(DocumentText(text, (), ()))
    assert [(e.type, e.text) for e in found] == [
        ("lab_result", "Sodium . 139 mmol/L"),
        ("lab_result", "Triglycerides ; 2.1 mmol/L"),
    ]


def test_a_heading_this_project_does_not_name_still_ends_the_section_above() -> None:
    text = "MEDICATIONS:\n  Metformin 500 mg\nENCOUNTERS:\n  Encounter for check up\n"
    assert sections(text) == [("medications", "MEDICATIONS:\n  Metformin 500 mg")]


def test_a_list_on_its_headings_line_ends_with_its_first_sentence() -> None:
    text = "Allergies: NKA. Peanut introduced at 6 months, tolerating."
    assert sections(text) == [("allergies", "Allergies: NKA.")]
    found, _ = LocalProvider().detect_entities(DocumentText(text, (), ()))
    assert [e.type for e in found] == ["allergy"]  # "NKA" alone, negated


def test_headings_joined_or_over_a_tables_columns_open_their_section() -> None:
    assert sections("Allergies / Adverse Reactions\nSulphonamides Rash")[0][0] == "allergies"
    assert sections("Vaccine Dose 1 Dose 2\nDTaP 11/04/2019 01/06/2020")[0][0] == "immunizations"
