"""OCR-aware reading: misread names found, implausible or weakly read values kept for review.

Given a lab report scanned cleanly at 300 dpi, every result on it is read back with its
value and unit, HbA1c included. Given the same page worn by a scanner (seeded blur,
speckles, fading, a slight turn, JPEG artefacts), every result is either read right or
carries `needs_review`: none differs silently and none is dropped silently. Real
Tesseract reads each page once per module.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from fhir.resources.R4B.bundle import Bundle

from app.outputs.fhir import records_bundle
from app.pipeline.ai.fuzzy_names import fold, name_matcher
from app.pipeline.ai.lexicon import default_lexicon
from app.pipeline.ai.local import LocalProvider
from app.pipeline.ai.plausibility import LOW_OCR_CONFIDENCE, REVIEW_REASONS
from app.pipeline.ai.types import ClinicalRecords, LabResult, Vital, from_json, to_json
from app.pipeline.layout import DocumentText, Line, PageLayout, document_text
from app.pipeline.ocr import Tesseract
from tests.support.scans import LAB_ROWS, clean_scan, noisy_scan, read_scan

NOISY_SEED = 13  # a page where OCR misreads a name ("HbAtc"), digits and a decimal point


def page_of(*rows: list[tuple[str, float]]) -> DocumentText:
    """A one-page document text from lines of (word, OCR confidence 0-100)."""
    lines = []
    for number, row in enumerate(rows):
        y = 0.05 + number * 0.03
        words = tuple(
            (word, 0.1 + 0.08 * index, y, 0.17 + 0.08 * index, y + 0.02, confidence)
            for index, (word, confidence) in enumerate(row)
        )
        text = " ".join(word for word, _ in row)
        lines.append(Line(text, (0.1, y, 0.9, y + 0.02), words, 0))
    return document_text([PageLayout(1, 595.0, 842.0, tuple(lines), ())])


def line(text: str, confidence: float = 96.0, **weak: float) -> list[tuple[str, float]]:
    """The words of `text`, each at `confidence` unless named in `weak` (word=confidence)."""
    return [(word, weak.get(word, confidence)) for word in text.split()]


def read(doc: DocumentText) -> ClinicalRecords:
    provider = LocalProvider()
    entities, _ = provider.detect_entities(doc)
    records, _ = provider.enrich(doc, entities)
    return records


def only_lab(doc: DocumentText) -> LabResult:
    (lab,) = read(doc).lab_results
    return lab


# ---- names OCR misread


@pytest.mark.parametrize(
    ("misread", "name"),
    [
        ("HbAlc", "HbA1c"),
        ("HbAlic", "HbA1c"),
        ("Hb A1c", "HbA1c"),
        ("Potassiurn", "potassium"),
        ("Creatinlne", "creatinine"),
        ("S0dium", "sodium"),
    ],
)
def test_a_name_misread_by_ocr_confusions_folds_to_the_name(misread: str, name: str) -> None:
    assert fold(misread) == fold(name)
    lab = only_lab(page_of(line(f"{misread} 53 mmol/mol 20 - 41")))
    assert lab.test == name and lab.value == 53


def test_the_hba1c_the_team_saw_dropped_is_read_without_review() -> None:
    lab = only_lab(page_of(line("HbAlic 53 mmol/mol 20 - 41 H")))
    assert (lab.test, lab.value, lab.unit, lab.loinc) == ("HbA1c", 53, "mmol/mol", "59261-8")
    assert not lab.needs_review and lab.ocr_confidence == 0.96


def test_a_name_one_edit_away_is_read_but_kept_for_review() -> None:
    lab = only_lab(page_of(line("HbAtc 53 mmol/mol 20 - 41")))
    assert lab.test == "HbA1c" and lab.value == 53
    assert lab.needs_review and lab.review_reason == "approximate_name"


def test_a_misread_vital_sign_label_is_read() -> None:
    (vital,) = read(page_of(line("Sp02 97 %"))).vitals
    assert (vital.type, vital.value, vital.needs_review) == ("oxygen_saturation", 97, False)


def test_a_misread_name_without_a_value_is_no_mention() -> None:
    assert read(page_of(line("Potassiurn was checked"), line("HbAtc requested"))).lab_results == ()


def test_a_near_name_close_to_two_tests_is_not_guessed() -> None:
    matcher = name_matcher(default_lexicon())
    assert matcher.match("Notarealtest 5.0 mmol/L", "lab") is None


# ---- values checked for plausibility


def test_a_clean_value_in_its_range_is_asserted_with_its_ocr_confidence() -> None:
    lab = only_lab(page_of(line("Potassium 4.6 mmol/L 3.5 - 5.3")))
    assert (lab.value, lab.unit, lab.abnormal_flag) == (4.6, "mmol/L", "N")
    assert lab.needs_review is False and lab.review_reason is None
    assert lab.ocr_confidence == 0.96


def test_a_value_outside_physiological_limits_needs_review() -> None:
    lab = only_lab(page_of(line("Potassium 46 mmol/L")))
    assert lab.value == 46 and lab.needs_review
    assert lab.review_reason == "outside_physiological_limits"


@pytest.mark.parametrize(
    "printed",
    [
        "Urea 56 mmol/L 2.5 - 7.8",  # 5.6 with its decimal point lost
        "Glucose 64 mmol/L (3.9 - 5.5)",
        "Total cholesterol 38 mmol/L < 5.0",
        "Potassium 5.66 mmol/L 3.5 - 5.3",  # a digit too many
    ],
)
def test_a_value_its_printed_range_makes_implausible_needs_review(printed: str) -> None:
    lab = only_lab(page_of(line(printed)))
    assert lab.needs_review and lab.review_reason == "implausible_for_range"


@pytest.mark.parametrize(
    "printed",
    [
        "CRP 48 mg/L 0 - 5",  # high, but whole numbers beside a whole-number range
        "Glucose 14.2 mmol/L 3.9 - 5.5",  # high, with its decimal point
        "TSH 1.85 mU/L 0.27 - 4.2",  # as precise as the range
        "INR 2 0.8 - 1.2",  # one digit has no decimal point to lose
    ],
)
def test_an_abnormal_but_plausible_value_is_asserted(printed: str) -> None:
    assert not only_lab(page_of(line(printed))).needs_review


def test_a_value_read_from_weak_words_needs_review_with_their_confidence() -> None:
    lab = only_lab(page_of(line("CRP 33 mg/L 0 - 5", **{"33": 35.0})))
    assert lab.value == 33 and lab.needs_review
    assert lab.review_reason == "low_ocr_confidence" and lab.ocr_confidence == 0.35
    assert lab.ocr_confidence < LOW_OCR_CONFIDENCE


def test_a_weak_name_with_a_strong_value_is_asserted() -> None:
    lab = only_lab(page_of(line("Urea 5.6 mmol/L 2.5 - 7.8", Urea=40.0)))
    assert lab.value == 5.6 and not lab.needs_review and lab.ocr_confidence == 0.96


def test_a_decimal_point_read_as_a_colon_is_repaired_and_kept_for_review() -> None:
    lab = only_lab(page_of(line("LDL cholesterol 3:7 mmol/L < 3.0 H")))
    assert (lab.test, lab.value, lab.value_text) == ("LDL cholesterol", 3.7, "3:7")
    assert lab.needs_review and lab.review_reason == "ocr_repaired"


def test_a_result_ocr_could_not_read_is_kept_not_dropped() -> None:
    lab = only_lab(page_of(line("LDL cholesterol oe mmol/L < 3.0 H", oe=21.0)))
    assert lab.test == "LDL cholesterol" and lab.value is None
    assert lab.needs_review and lab.review_reason == "unreadable_value"


def test_a_misread_range_is_kept_for_review_and_decides_no_flag() -> None:
    lab = only_lab(page_of(line("Sodium 139 mmol/L 435 - 145")))
    assert lab.value == 139 and lab.reference_low == 435
    assert lab.needs_review and lab.review_reason == "unreadable_range"
    assert lab.abnormal_flag is None


def test_a_unit_the_test_is_never_reported_in_needs_review() -> None:
    lab = only_lab(page_of(line("Potassium 4.6 g/L")))
    assert lab.needs_review and lab.review_reason == "unit_mismatch"


@pytest.mark.parametrize(
    ("printed", "reason"),
    [
        ("Temp 52.1 C", "outside_physiological_limits"),
        ("BP 80/120 mmHg", "outside_physiological_limits"),  # systolic below diastolic
        ("Heart rate 72 bpm", None),
        ("BP 132/84 mmHg", None),
    ],
)
def test_vital_signs_are_checked_too(printed: str, reason: str | None) -> None:
    (vital,) = read(page_of(line(printed))).vitals
    assert vital.review_reason == reason and vital.needs_review is (reason is not None)


def test_a_weak_vital_reading_needs_review() -> None:
    (vital,) = read(page_of(line("Pulse 88 bpm", **{"88": 30.0}))).vitals
    assert vital.needs_review and vital.review_reason == "low_ocr_confidence"


def test_text_without_ocr_words_asserts_plausible_values_without_a_confidence() -> None:
    (lab,) = read(DocumentText("Potassium 4.6 mmol/L (3.5 - 5.3)")).lab_results
    assert not lab.needs_review and lab.ocr_confidence is None


def test_records_stored_before_review_existed_still_load() -> None:
    old_lab = {"id": "l1", "entity_ids": ["e1"], "test": "sodium", "value": 139.0}
    old_lab |= {"value_text": "139", "unit": "mmol/L"}
    old_vital = {"id": "v1", "entity_ids": ["e2"], "type": "heart_rate", "value": 72.0}
    old_vital |= {"unit": "/min"}
    lab, vital = from_json(LabResult, old_lab), from_json(Vital, old_vital)
    assert (lab.needs_review, lab.review_reason, lab.ocr_confidence) == (False, None, None)
    assert (vital.needs_review, vital.review_reason, vital.ocr_confidence) == (False, None, None)
    assert from_json(LabResult, to_json(lab)) == lab


def test_review_reasons_are_codes() -> None:
    assert all(reason.replace("_", "").isalpha() for reason in REVIEW_REASONS)


# ---- FHIR


def test_a_value_that_needs_review_is_a_preliminary_observation_with_a_note() -> None:
    doc = page_of(line("Potassium 4.6 mmol/L 3.5 - 5.3"), line("CRP 33 mg/L 0 - 5", **{"33": 35.0}))
    provider = LocalProvider()
    entities, _ = provider.detect_entities(doc)
    records, _ = provider.enrich(doc, entities)
    shell_file = SimpleNamespace(
        id=uuid.uuid4(),
        patient_id=uuid.uuid4(),
        mime_type="image/png",
        file_size_bytes=1000,
        original_filename="labs.png",
    )
    bundle = records_bundle(shell_file, records, entities)  # validates, or raises
    Bundle.model_validate(bundle)
    observations = {
        resource["code"]["text"]: resource
        for entry in bundle["entry"]
        if (resource := entry["resource"])["resourceType"] == "Observation"
    }
    assert observations["potassium"]["status"] == "final"
    assert "note" not in observations["potassium"]
    crp = observations["CRP"]
    assert crp["status"] == "preliminary"
    (note,) = crp["note"]
    assert "low ocr confidence" in note["text"] and "check this value" in note["text"]
    assert "33" not in note["text"]  # the reason, never the document's text


# ---- real scans


@pytest.fixture(scope="module")
def engine() -> Tesseract:
    return Tesseract()


@pytest.fixture(scope="module")
def clean_page(engine: Tesseract) -> DocumentText:
    return read_scan(clean_scan(), engine)


@pytest.fixture(scope="module")
def noisy_page(engine: Tesseract) -> DocumentText:
    return read_scan(noisy_scan(clean_scan(), NOISY_SEED), engine)


def results_by_test(records: ClinicalRecords) -> dict[str, list[LabResult]]:
    found: dict[str, list[LabResult]] = {}
    for lab in records.lab_results:
        found.setdefault(lab.test, []).append(lab)
    return found


def test_a_clean_300_dpi_lab_report_yields_every_result(clean_page: DocumentText) -> None:
    found = results_by_test(read(clean_page))
    assert len(LAB_ROWS) >= 12
    for row in LAB_ROWS:
        assert [(lab.value, lab.unit) for lab in found.get(row.name, [])] == [
            (row.value, row.unit)
        ], row.name
    assert set(found) == {row.name for row in LAB_ROWS}
    assert found["HbA1c"][0].loinc == "59261-8"
    assert all(
        lab.ocr_confidence and lab.ocr_confidence >= LOW_OCR_CONFIDENCE
        for labs in found.values()
        for lab in labs
    )


def test_a_noisy_scan_never_differs_from_the_page_without_needs_review(
    noisy_page: DocumentText,
) -> None:
    found = results_by_test(read(noisy_page))
    silent, dropped = [], []
    for row in LAB_ROWS:
        labs = found.pop(row.name, [])
        if not labs:
            dropped.append(row.name)
        silent += [
            row.name
            for lab in labs
            if not lab.needs_review and (lab.value, lab.unit) != (row.value, row.unit)
        ]
    silent += [name for name, labs in found.items() for lab in labs if not lab.needs_review]
    assert silent == [], "values that differ from the page without needs_review"
    assert dropped == [], "results on the page that became no record"


def test_the_noisy_scan_is_noisy_enough_to_need_review(noisy_page: DocumentText) -> None:
    """The scan test above cannot pass by reading a clean page: OCR misreads this one."""
    records = read(noisy_page)
    reviewed = [lab for lab in records.lab_results if lab.needs_review]
    assert len(reviewed) >= 2
    assert {lab.review_reason for lab in reviewed} <= set(REVIEW_REASONS)
    assert any(lab.test == "HbA1c" for lab in records.lab_results)
