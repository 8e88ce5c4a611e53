"""What structure says: list items under headings, semantic tags, the form of words."""

from __future__ import annotations

import pytest

from app.pipeline.ai.local import LocalProvider
from app.pipeline.ai.structure import items, patterns
from app.pipeline.ai.text import Analysis
from app.pipeline.ai.types import Entity
from app.pipeline.layout import DocumentText


def plain(text: str) -> DocumentText:
    return DocumentText(text, (), ())


def listed(text: str) -> list[tuple[str, str, bool]]:
    return [(text[i.start : i.end], i.type, i.tagged) for i in items(Analysis(plain(text)))]


@pytest.fixture(scope="module")
def provider() -> LocalProvider:
    return LocalProvider()


def entities(provider: LocalProvider, text: str) -> list[Entity]:
    found, _ = provider.detect_entities(plain(text))
    return found


def test_a_list_under_its_own_heading_has_an_item_a_line_commas_included() -> None:
    text = (
        "IMMUNIZATIONS:\n"
        "  2021-10-01 : Influenza, seasonal, injectable, preservative free\n"
        "  2019-05-05 : Td (adult), 2 Lf tetanus toxoid, preservative free, adsorbed\n"
        "ENCOUNTERS:\n"
        "  2022-02-11 : Encounter for check up\n"
    )
    assert listed(text) == [
        ("Influenza, seasonal, injectable, preservative free", "immunization", False),
        ("Td (adult), 2 Lf tetanus toxoid, preservative free, adsorbed", "immunization", False),
    ]


def test_an_inline_list_splits_at_commas_and_and_and_drops_its_opening_words() -> None:
    text = (
        "PAST MEDICAL HISTORY: Significant for hypertension, gout, and asthma, poorly controlled."
    )
    assert [(t, k) for t, k, _ in listed(text)] == [
        ("hypertension", "condition"),
        ("gout", "condition"),
        ("asthma", "condition"),
    ]


def test_prose_fields_dates_table_headers_and_nothing_are_no_items() -> None:
    text = (
        "Medications:\n"
        "Drug  Dose  Route  Frequency\n"
        "Date printed: 18-Nov-2024\n"
        "She takes them as prescribed by her GP.\n"
    )
    assert listed(text) == []
    assert listed("Allergies: none.") == []


def test_a_semantic_tag_decides_the_type() -> None:
    text = (
        "CONDITIONS:\n"
        "  2018-09-01 : Essential hypertension (disorder)\n"
        "  2019-10-10 : Full-time employment (finding)\n"
        "PROCEDURES:\n"
        "  2022-06-30 : Insertion of subcutaneous contraceptive (procedure)\n"
    )
    assert listed(text) == [
        ("Essential hypertension (disorder)", "condition", True),
        ("Full-time employment (finding)", "observation", True),
        ("Insertion of subcutaneous contraceptive (procedure)", "procedure", True),
    ]


def test_procedures_and_vaccines_by_the_form_of_their_words() -> None:
    text = "Had a laparoscopic cholecystectomy; received the pneumococcal vaccine; flu shot."
    assert [(text[i.start : i.end], i.type) for i in patterns(text)] == [
        ("laparoscopic cholecystectomy", "procedure"),
        ("pneumococcal vaccine", "immunization"),
        ("flu shot", "immunization"),
    ]
    assert list(patterns("CERTIFICATE OF IMMUNIZATION; no known vaccine allergies")) == []


def test_an_unknown_name_in_a_medication_list_is_a_medication(provider) -> None:
    found = entities(provider, "MEDICATIONS:\n  2018-05-01 [STOPPED] : Zorbulin 28 Day Pack\n")
    assert [(e.text, e.type, e.found_by) for e in found] == [
        ("Zorbulin 28 Day Pack", "medication", "section")
    ]


def test_a_medicine_and_its_other_name_in_brackets_are_one_mention(provider) -> None:
    found = entities(provider, "Metoprolol (Betaloc) 23.75mg daily")
    assert [(e.text, e.type) for e in found] == [
        ("Metoprolol (Betaloc) 23.75mg daily", "medication")
    ]


def test_a_short_form_the_text_defines_is_a_mention_wherever_it_is_used(provider) -> None:
    text = "Patients with ataxia-telangiectasia (A-T) were studied. A-T cells were irradiated."
    found = [(e.text, e.type) for e in entities(provider, text) if e.type == "condition"]
    assert found == [
        ("ataxia-telangiectasia", "condition"),
        ("A-T", "condition"),
        ("A-T", "condition"),
    ]


def test_a_test_of_a_medicine_is_not_the_medicine(provider) -> None:
    text = "Serum lithium 0.68 mmol/L. Check digoxin level. Continue lithium 400 mg at night."
    found = [(e.text, e.type) for e in entities(provider, text) if e.type == "medication"]
    assert found == [("lithium 400 mg at night", "medication")]


def test_every_entity_says_how_it_was_found(provider) -> None:
    text = "Past medical history: hypertension, polymyalgia rheumatica.\nCholecystectomy 2004."
    found = {e.text: e.found_by for e in entities(provider, text)}
    assert found == {
        "hypertension": "lexicon",
        "polymyalgia rheumatica": "vocabulary",
        "Cholecystectomy": "lexicon",
    }
    assert all(e.ocr_confidence is None for e in entities(provider, text))  # no OCR words


def test_a_combination_product_is_one_medicine(provider) -> None:
    text = "amoxicillin-clavulanate 875 mg PO BID. Metformin 500 mg - lisinopril 10 mg."
    found = [e.text for e in entities(provider, text) if e.type == "medication"]
    assert found == [
        "amoxicillin-clavulanate 875 mg PO BID",
        "Metformin 500 mg",
        "lisinopril 10 mg",
    ]


def test_a_molecule_or_test_named_is_no_medicine_unless_given(provider) -> None:
    text = "Troponin I (hs) was raised; rheumatoid factor positive. Heparin 5000 units SC."
    found = [e.text for e in entities(provider, text) if e.type == "medication"]
    assert found == ["Heparin 5000 units SC"]


def test_a_range_legend_or_an_instrument_is_no_diagnosis(provider) -> None:
    text = (
        "Diabetes: >6.4 %\nPrediabetes 5.7-6.4\nGAD-7 score 12; eGFR by CKD-EPI.\nShe has diabetes."
    )
    found = [(e.text, e.type) for e in entities(provider, text) if e.type != "lab_result"]
    assert found == [("diabetes", "condition")]


def test_a_result_in_a_laboratorys_unit_is_no_medicine(provider) -> None:
    text = (
        "Vitamin D, 25-Hydroxy 18.6 L ng/mL\nRheumatoid factor 48 IU/mL\nVitamin D 1000 units daily"
    )
    found = [e.text for e in entities(provider, text) if e.type == "medication"]
    assert found == ["Vitamin D 1000 units daily"]


def test_ingredients_each_with_their_strength_are_one_product(provider) -> None:
    text = "2019-11-22 [STOPPED] : Amoxicillin 250 MG / Clavulanate 125 MG Oral Tablet"
    found = [e.text for e in entities(provider, text) if e.type == "medication"]
    assert found == ["Amoxicillin 250 MG / Clavulanate 125 MG Oral"]


def test_a_results_line_is_a_result_whatever_its_test(provider) -> None:
    text = "Protein, Total 7.1 g/dL 6.0-8.3\nLipase 48 U/L (13-60)\nMetformin 500 mg daily"
    doc = DocumentText(text, (), ())
    found, _ = provider.detect_entities(doc)
    assert [(e.type, e.found_by) for e in found] == [
        ("lab_result", "pattern"),
        ("lab_result", "pattern"),
        ("medication", "lexicon"),
    ]
    records, _ = provider.enrich(doc, found)
    read = [
        (r.test, r.value, r.unit, r.reference_low, r.reference_high) for r in records.lab_results
    ]
    assert read == [("protein, total", 7.1, "g/dL", 6.0, 8.3), ("lipase", 48.0, "U/L", 13.0, 60.0)]


def test_a_problem_lists_line_naming_several_problems_gives_each(provider) -> None:
    text = "ASSESSMENT:\n2. Hypokalemia and hypomagnesemia.\n5. Small hiatal hernia. Osteopenia.\n"
    found = [e.text for e in entities(provider, text) if e.type == "condition"]
    assert found == ["Hypokalemia", "hypomagnesemia", "hiatal hernia", "Osteopenia"]
