"""Pass 2's grammar: doses and frequencies, results and ranges, readings and units, dates."""

from __future__ import annotations

import pytest

from app.pipeline.ai.dates import display_date, find_dates, find_reduced_dates, parse_date
from app.pipeline.ai.doses import combine_frequencies, parse_sig
from app.pipeline.ai.lab_values import lab_value
from app.pipeline.ai.vital_readings import convert, vital_reading


def sig(text: str):
    return parse_sig(text, text.index(" "), len(text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Metformin 500 mg PO twice daily", (500, "mg", None, None, "oral", "twice daily")),
        (
            "Amoxicillin 250mg three times a day for 5 days",
            (250, "mg", None, None, None, "three times daily"),
        ),
        (
            "Salbutamol 100 micrograms inhaler 2 puffs as required",
            (100, "ug", 2, "{puff}", "inhaled", "as needed"),
        ),
        ("Paracetamol 1 g QDS PRN", (1, "g", None, None, None, "four times daily as needed")),
        ("Ramipril 5mg OD", (5, "mg", None, None, None, "once daily")),
        (
            "Atorvastatin 20 mg tablets - take one tablet once daily at night",
            (20, "mg", 1, "{tablet}", None, "at night"),
        ),
        ("Insulin 20 units at night", (None, None, 20, "[iU]", None, "at night")),
        (
            "Amoxicillin 250 mg/5 mL oral suspension 5 mL three times daily",
            (250, "mg/(5.mL)", None, None, "oral", "three times daily"),
        ),
        (
            "Sertraline 50mg tablets, one to be taken once a day",
            (50, "mg", 1, "{tablet}", None, "once daily"),
        ),
        ("Clopidogrel 75 mg o.d.", (75, "mg", None, None, None, "once daily")),
        ("Amlodipine 5 mg p.o. mane", (5, "mg", None, None, "oral", "in the morning")),
        ("Morphine 10 mg every 4 hours", (10, "mg", None, None, None, "every 4 hours")),
        ("METFORMIN 500MG BD", (500, "mg", None, None, None, "twice daily")),
    ],
)
def test_a_medicine_s_instructions_are_read(text: str, expected: tuple) -> None:
    found = sig(text)
    assert (
        found.strength,
        found.strength_unit,
        found.dose,
        found.dose_unit,
        found.route,
        found.frequency,
    ) == expected


def test_the_instructions_stop_at_the_next_clause() -> None:
    text = "Ramipril 5mg OD for hypertension and aspirin 75 mg"
    found = sig(text)
    assert text[: found.end] == "Ramipril 5mg OD"


def test_a_name_alone_has_no_instructions() -> None:
    found = sig("Metformin and gliclazide")
    assert found.end == len("Metformin") and found.strength is None


def test_frequencies_combine() -> None:
    assert combine_frequencies(["once daily", "at night"]) == "at night"
    assert combine_frequencies(["four times daily", "as needed"]) == "four times daily as needed"
    assert combine_frequencies(["as needed"]) == "as needed"
    assert combine_frequencies([]) is None


def lab(text: str):
    return lab_value(text, text.index(" "), len(text))


@pytest.mark.parametrize(
    ("text", "value", "unit", "low", "high", "flag"),
    [
        ("Haemoglobin 135 g/L (130-170)", 135, "g/L", 130, 170, None),
        ("Potassium 5.9 mmol/L H", 5.9, "mmol/L", None, None, "H"),
        ("Sodium: 139 mmol/L [135 - 145] N", 139, "mmol/L", 135, 145, "N"),
        ("WCC 11.2 x10^9/L 4.0-11.0 H", 11.2, "10*9/L", 4.0, 11.0, "H"),
        ("TSH 6.8 mU/L (0.27 - 4.2) High", 6.8, "m[IU]/L", 0.27, 4.2, "H"),
        ("Ferritin 12 ug/L L (30-400)", 12, "ug/L", 30, 400, "L"),
        ("SODIUM 131 L mmol/L 133-146", 131, "mmol/L", 133, 146, "L"),
        ("Creatinine 38 \u2193 (ref 59-104) micromol/L", 38, "umol/L", 59, 104, "L"),
        ("Hb 135 (130-170) g/L", 135, "g/L", 130, 170, None),
        ("CRP 12 mg/L (<5)", 12, "mg/L", None, 5, None),
        ("potassium was raised at 5.9 mmol/L", 5.9, "mmol/L", None, None, "H"),
        ("Hb 128", 128, None, None, None, None),
    ],
)
def test_a_result_is_read(text, value, unit, low, high, flag) -> None:
    found = lab(text)
    assert found is not None
    assert (found.value, found.unit, found.low, found.high, found.flag) == (
        value,
        unit,
        low,
        high,
        flag,
    )


def test_a_censored_result_keeps_its_text_but_no_number() -> None:
    found = lab("eGFR >90 mL/min/1.73m2")
    assert found is not None
    assert (found.value, found.value_text, found.unit) == (None, ">90", "mL/min/{1.73_m2}")


@pytest.mark.parametrize(
    "text",
    ["Potassium on 12/03/2024", "Potassium at 14:30", "Levothyroxine sodium 75 micrograms"],
)
def test_dates_times_and_doses_are_not_results(text: str) -> None:
    start = text.index("sodium") + 6 if "sodium" in text else text.index(" ")
    assert lab_value(text, start, len(text)) is None


def reading(kind: str, text: str):
    return vital_reading(kind, text, text.index(" "), len(text))


@pytest.mark.parametrize(
    ("kind", "text", "value", "unit", "systolic", "diastolic"),
    [
        ("blood_pressure", "BP 142/91 mmHg", None, "mm[Hg]", 142, 91),
        ("blood_pressure", "BP was 120/80", None, "mm[Hg]", 120, 80),
        ("temperature", "Temp 38.2 C", 38.2, "Cel", None, None),
        ("temperature", "Temperature 100.4 F", 38.0, "Cel", None, None),
        ("temperature", "T 37.1\u00b0C", 37.1, "Cel", None, None),
        ("temperature", "Temp 98.6", 37.0, "Cel", None, None),
        ("temperature", "temperature of 38.5 degrees", 38.5, "Cel", None, None),
        ("heart_rate", "HR 88 bpm", 88, "/min", None, None),
        ("heart_rate", "pulse was 92 beats per minute", 92, "/min", None, None),
        ("oxygen_saturation", "SpO2 97% on air", 97, "%", None, None),
        ("respiratory_rate", "RR 18,", 18, "/min", None, None),
        ("weight", "Weight 180 lb", 81.6, "kg", None, None),
        ("height", "Height 1.76 m", 176, "cm", None, None),
        ("bmi", "BMI 27.4", 27.4, "kg/m2", None, None),
    ],
)
def test_a_reading_is_read_in_ucum(kind, text, value, unit, systolic, diastolic) -> None:
    found = reading(kind, text)
    assert found is not None
    assert (found.value, found.unit, found.systolic, found.diastolic) == (
        value,
        unit,
        systolic,
        diastolic,
    )


def test_temperatures_convert_to_celsius() -> None:
    assert convert("temperature", 212.0, "[degF]").value == 100.0
    assert convert("temperature", 32.0, "[degF]").value == 0.0
    assert convert("temperature", 39.5, "Cel").value == 39.5
    assert convert("temperature", 101.0, None).value == 38.3  # no unit, above 45: Fahrenheit
    assert convert("temperature", 37.0, None).unit == "Cel"


def test_a_label_without_a_reading_is_not_a_reading() -> None:
    assert reading("blood_pressure", "BP control is poor") is None
    assert reading("heart_rate", "pulse oximetry") is None


@pytest.mark.parametrize(
    ("text", "day_first", "iso"),
    [
        ("12/03/2024", True, "2024-03-12"),
        ("12/03/2024", False, "2024-12-03"),
        ("03/25/2024", True, "2024-03-25"),  # no 25th month: month first whatever the setting
        ("25/03/2024", False, "2024-03-25"),
        ("2024-03-12", True, "2024-03-12"),
        ("3 March 2024", True, "2024-03-03"),
        ("3rd Mar 2024", True, "2024-03-03"),
        ("03-Mar-2024", True, "2024-03-03"),
        ("March 3, 2024", True, "2024-03-03"),
        ("12.03.24", True, "2024-03-12"),
        ("1/2/54", True, "1954-02-01"),
    ],
)
def test_dates_become_iso(text: str, day_first: bool, iso: str) -> None:
    assert parse_date(text, day_first=day_first) == iso


def test_impossible_dates_and_non_dates_are_skipped() -> None:
    assert find_dates("31/02/2024 BP 142/91 at 14:30, Hb 5.9") == []


def test_reduced_dates_are_found_where_no_full_date_covers_them() -> None:
    found = find_reduced_dates("MI in 2015, diagnosed March 2019; seen 12/03/2024")
    assert [d.iso for d in found] == ["2015", "2019-03", "2024-03-12"]


def test_dates_display_in_words() -> None:
    assert display_date("2024-03-12") == "12 March 2024"
    assert display_date("2019-09") == "September 2019"
    assert display_date("2019") == "2019"
