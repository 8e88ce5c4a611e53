"""The profile's record merged from documents' records: a pure function, tested on the
kinds of documents people keep (medication lists, lab reports, letters), dated and not."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from app.pipeline.ai import types as ai
from app.pipeline.record.mentions import (
    DIASTOLIC,
    SYSTOLIC,
    DocumentInfo,
    Mention,
    document_mentions,
    mention_from_json,
    mention_to_json,
    series_key,
)
from app.pipeline.record.merge import merge_record
from app.pipeline.record.units import convert
from tests.support.records import records_field

HBA1C = "59261-8"
GLUCOSE = "14749-6"


def entity(eid: str, kind: str = "lab_result", page: int = 1, **flags: bool) -> ai.Entity:
    return ai.Entity(eid, kind, "x", 0, 1, page, (0.1, 0.2, 0.3, 0.25), 0.9, **flags)


def document(
    number: int,
    date: str | None,
    *records: ai.Record,
    flags: dict[str, dict[str, bool]] | None = None,
    uploaded: str | None = None,
) -> list[Mention]:
    """The mentions of document `number`, dated `date`, with one entity per record."""
    flags = flags or {}
    entities = [
        entity(f"e-{r.id}", page=1 + i % 2, **flags.get(r.id, {})) for i, r in enumerate(records)
    ]
    cited = [_cite(r, f"e-{r.id}") for r in records]
    groups: dict[str, list[ai.Record]] = {}
    for record in cited:
        groups.setdefault(records_field(record), []).append(record)
    records_ = ai.ClinicalRecords(document_date=date, **{k: tuple(v) for k, v in groups.items()})
    info = DocumentInfo(
        f"doc{number:03d}", uploaded or f"2025-01-{number:02d}T10:00:00+00:00", date
    )
    return document_mentions(info, records_, entities)


def _cite(record: ai.Record, entity_id: str) -> ai.Record:
    from dataclasses import replace

    return replace(record, entity_ids=(entity_id,))


def metformin(
    rid: str, strength: float | None, status: str = "active", **more: object
) -> ai.Medication:
    return ai.Medication(
        rid,
        (),
        "metformin",
        strength,
        "mg" if strength else None,
        frequency="twice daily",
        status=status,
        rxnorm="6809",
        **more,  # type: ignore[arg-type]
    )


def hba1c(rid: str, value: float, unit: str, **more: object) -> ai.LabResult:
    loinc = {"mmol/mol": "59261-8", "%": "4548-4"}[unit]
    low, high = {"mmol/mol": (20.0, 41.0), "%": (4.0, 5.9)}[unit]
    return ai.LabResult(
        rid,
        (),
        "HbA1c",
        value,
        f"{value:g}",
        unit,
        low,
        high,
        "H",
        loinc,
        **more,  # type: ignore[arg-type]
    )


def test_a_medication_across_three_years_is_one_entry_with_the_dose_last_documented() -> None:
    mentions = [
        *document(1, "2022-02-01", metformin("m1", 500)),
        *document(2, "2023-06-10", metformin("m1", 1000)),
        *document(3, "2024-09-30", metformin("m1", None)),  # a letter naming it, no dose
    ]
    record = merge_record(mentions)
    (entry,) = record.medications
    assert (entry.name, entry.rxnorm, entry.status) == ("metformin", "6809", "active")
    assert (entry.strength, entry.strength_unit, entry.frequency) == (1000, "mg", "twice daily")
    assert (entry.seen.first_seen, entry.seen.last_seen) == ("2022-02-01", "2024-09-30")
    assert [s.shell_file_id for s in entry.sources] == ["doc001", "doc002", "doc003"]
    assert entry.conflict == ()


def test_status_comes_from_the_newest_dated_document_not_a_later_undated_upload() -> None:
    mentions = [
        *document(1, "2023-01-05", metformin("m1", 500)),
        *document(2, "2024-04-01", metformin("m1", 500, status="stopped")),
        *document(3, None, metformin("m1", 500), uploaded="2025-06-01T09:00:00+00:00"),
    ]
    (entry,) = merge_record(mentions).medications
    assert entry.status == "stopped"
    assert entry.sources[-1].undated and entry.sources[-1].date == "2025-06-01"
    assert entry.seen.last_seen == "2024-04-01"  # undated mentions set no dates


def test_different_doses_on_the_same_date_are_a_conflict_not_a_guess() -> None:
    mentions = [
        *document(1, "2023-01-05", metformin("m1", 250)),
        *document(2, "2024-03-01", metformin("m1", 500)),
        *document(3, "2024-03-01", metformin("m1", 850)),
    ]
    (entry,) = merge_record(mentions).medications
    assert entry.strength is None and entry.dose is None and entry.frequency is None
    assert sorted(d.strength for d in entry.conflict) == [500, 850]
    assert {d.shell_file_id for d in entry.conflict} == {"doc002", "doc003"}


def test_an_earlier_conflict_is_settled_by_a_later_document() -> None:
    mentions = [
        *document(1, "2024-03-01", metformin("m1", 500)),
        *document(2, "2024-03-01", metformin("m1", 850)),
        *document(3, "2024-05-01", metformin("m1", 850)),
    ]
    (entry,) = merge_record(mentions).medications
    assert entry.conflict == () and entry.strength == 850


def test_one_drug_by_code_else_by_the_lexicon_else_by_normalised_name() -> None:
    mentions = [
        *document(
            1,
            "2024-01-01",
            metformin("m1", 500),
            ai.Medication("m2", (), "Atorvastatin ", 20, "mg"),
            ai.Medication("m3", (), "Zentravix", 5, "mg"),  # a name nobody knows
        ),
        *document(
            2,
            "2024-02-01",
            ai.Medication("m1", (), "metformin hydrochloride", 500, "mg", rxnorm="6809"),
            ai.Medication("m2", (), "Glucophage XR", 1000, "mg"),  # a brand, uncoded
        ),
        *document(
            3,
            "2024-03-01",
            ai.Medication("m1", (), "atorvastatin", 40, "mg"),
            ai.Medication("m2", (), "zentravix", 10, "mg"),
        ),
    ]
    entries = {e.key: e for e in merge_record(mentions).medications}
    assert set(entries) == {"rxnorm:6809", "rxnorm:83367", "name:zentravix"}
    assert entries["rxnorm:83367"].strength == 40
    assert entries["name:zentravix"].strength == 10
    assert len(entries["rxnorm:6809"].sources) == 3


def test_a_condition_or_an_allergen_by_the_lexicon_when_uncoded() -> None:
    mentions = [
        *document(1, "2023-01-01", ai.Condition("c1", (), "T2DM", "active")),
        *document(2, "2024-01-01", ai.Condition("c1", (), "type 2 diabetes", "active")),
        *document(3, "2024-02-01", ai.Allergy("a1", (), "PCN", "rash")),
        *document(4, "2024-03-01", ai.Allergy("a1", (), "Penicillin", "hives")),
    ]
    record = merge_record(mentions)
    assert [(c.key, len(c.sources)) for c in record.conditions] == [("snomed:44054006", 2)]
    assert [(a.key, a.reactions) for a in record.allergies] == [("penicillin", ("rash", "hives"))]


@pytest.mark.parametrize("flag", ["negated", "family", "hypothetical"])
def test_negated_family_and_hypothetical_mentions_are_not_the_persons(flag: str) -> None:
    diabetes = ai.Condition("c1", (), "type 2 diabetes", "active", code="44054006")
    penicillin = ai.Allergy("a1", (), "penicillin", "rash")
    mentions = document(1, "2024-01-01", diabetes, penicillin, flags={"c1": {flag: True}})
    record = merge_record(mentions)
    assert record.conditions == ()
    assert [a.substance for a in record.allergies] == ["penicillin"]


def test_a_condition_refuted_or_of_a_relative_by_status_is_not_the_persons() -> None:
    mentions = document(
        1,
        "2024-01-01",
        ai.Condition("c1", (), "asthma", "negated"),
        ai.Condition("c2", (), "breast cancer", "family"),
        ai.Condition("c3", (), "hypertension", "history", onset_date="2015"),
    )
    (entry,) = merge_record(mentions).conditions
    assert (entry.name, entry.status, entry.onset_date) == ("hypertension", "history", "2015")


def test_conditions_take_the_newest_status_and_the_earliest_onset() -> None:
    mentions = [
        *document(
            1,
            "2020-01-01",
            ai.Condition("c1", (), "Asthma", "active", onset_date="2009", code="195967001"),
        ),
        *document(2, "2024-01-01", ai.Condition("c1", (), "asthma", "resolved", code="195967001")),
    ]
    (entry,) = merge_record(mentions).conditions
    assert (entry.status, entry.onset_date, entry.snomed) == ("resolved", "2009", "195967001")


def test_allergies_keep_every_reaction_and_the_most_severe() -> None:
    mentions = [
        *document(1, "2019-01-01", ai.Allergy("a1", (), "Penicillin", "rash", "mild")),
        *document(2, "2023-01-01", ai.Allergy("a1", (), "penicillin", "anaphylaxis", "severe")),
        *document(3, "2024-01-01", ai.Allergy("a1", (), "penicillin", "rash", None)),
    ]
    (entry,) = merge_record(mentions).allergies
    assert entry.reactions == ("rash", "anaphylaxis") and entry.severity == "severe"


def test_immunizations_and_procedures_are_one_entry_per_event() -> None:
    flu_2023 = ai.Immunization("i1", (), "influenza vaccine", "2023-10-01", "141")
    flu_2024 = ai.Immunization("i2", (), "flu vaccine", "2024-10-03", "141")
    mentions = [
        *document(1, "2023-11-01", flu_2023, ai.Procedure("p1", (), "Appendectomy", "2010")),
        *document(
            2, "2024-11-01", flu_2023, flu_2024, ai.Procedure("p1", (), "appendectomy", "2010")
        ),
    ]
    record = merge_record(mentions)
    assert [(e.code, e.date, len(e.sources)) for e in record.immunizations] == [
        ("141", "2023-10-01", 2),
        ("141", "2024-10-03", 1),
    ]
    assert [(e.name, e.date, len(e.sources)) for e in record.procedures] == [
        ("appendectomy", "2010", 2)
    ]


def test_hba1c_in_mmol_per_mol_and_percent_is_one_series_in_the_newest_unit() -> None:
    mentions = [
        *document(1, "2022-03-01", hba1c("l1", 48, "mmol/mol")),
        *document(2, "2023-03-01", hba1c("l1", 53, "mmol/mol")),
        *document(3, "2024-03-01", hba1c("l1", 6.8, "%")),
    ]
    (entry,) = merge_record(mentions).observations
    assert entry.key == HBA1C and entry.unit == "%" and entry.count == 3
    assert entry.loinc == "4548-4"  # the code of HbA1c in %, the display unit
    (series,) = entry.series
    # The IFCC-NGSP master equation, not a scale: 48 mmol/mol is 6.54 %, not 4.8 %.
    assert [p.value for p in series.points] == [pytest.approx(6.542), pytest.approx(6.9995), 6.8]
    assert [p.original_value for p in series.points] == [48, 53, 6.8]
    assert [p.date for p in series.points] == ["2022-03-01", "2023-03-01", "2024-03-01"]
    first = series.points[0]
    assert (first.reference_low, first.reference_high) == (
        pytest.approx(3.98),
        pytest.approx(5.9015),
    )
    assert entry.latest is not None and entry.latest.value == 6.8


def test_the_hba1c_equation_goes_both_ways() -> None:
    assert convert(6.5, "%", "mmol/mol", HBA1C) == pytest.approx(47.54, abs=0.01)
    assert convert(47.54, "mmol/mol", "%", HBA1C) == pytest.approx(6.5, abs=0.001)
    assert convert(6.5, "%", "mg/dL", HBA1C) is None


def test_glucose_and_cholesterol_convert_by_molar_mass() -> None:
    assert convert(100, "mg/dL", "mmol/L", GLUCOSE) == pytest.approx(5.55, abs=0.01)
    assert convert(5.0, "mmol/L", "mg/dL", "14647-2") == pytest.approx(193.3, abs=0.1)
    assert series_key("2345-7") == GLUCOSE and series_key("4548-4") == HBA1C
    mentions = [
        *document(
            1,
            "2023-01-01",
            ai.LabResult("l1", (), "glucose", 126, "126", "mg/dL", 70, 140, None, "2345-7"),
        ),
        *document(
            2,
            "2024-01-01",
            ai.LabResult("l1", (), "glucose", 6.1, "6.1", "mmol/L", 3.9, 7.8, None, "14749-6"),
        ),
    ]
    (entry,) = merge_record(mentions).observations
    assert entry.unit == "mmol/L"
    assert [p.value for p in entry.series[0].points] == [pytest.approx(6.994, abs=0.001), 6.1]


def test_values_that_need_review_are_shown_but_never_in_the_trend() -> None:
    mentions = [
        *document(1, "2023-01-01", hba1c("l1", 48, "mmol/mol")),
        *document(
            2,
            "2024-01-01",
            hba1c("l1", 480, "mmol/mol", needs_review=True, review_reason="implausible"),
        ),
    ]
    (entry,) = merge_record(mentions).observations
    (series,) = entry.series
    assert [p.original_value for p in series.points] == [48]
    assert [(p.original_value, p.needs_review, p.review_reason) for p in series.review] == [
        (480, True, "implausible")
    ]
    assert entry.latest is not None and entry.latest.original_value == 48


def test_units_that_do_not_convert_are_a_series_of_their_own() -> None:
    def tsh(rid: str, value: float, unit: str) -> ai.LabResult:
        return ai.LabResult(rid, (), "TSH", value, f"{value:g}", unit, loinc="3016-3")

    mentions = [
        *document(1, "2022-01-01", tsh("l1", 2.1, "m[IU]/L")),
        *document(2, "2023-01-01", tsh("l1", 1.9, "ng/dL")),  # a misprint: not mixed in
        *document(3, "2024-01-01", tsh("l1", 0.0025, "[IU]/L")),
    ]
    (entry,) = merge_record(mentions).observations
    main, other = entry.series
    assert main.unit == "[IU]/L"
    assert [p.value for p in main.points] == [pytest.approx(0.0021), 0.0025]
    assert (other.unit, [p.value for p in other.points]) == ("ng/dL", [1.9])


def test_undated_documents_are_ordered_by_upload_and_marked() -> None:
    mentions = [
        *document(1, None, hba1c("l1", 50, "mmol/mol"), uploaded="2024-05-02T08:00:00+00:00"),
        *document(2, "2024-05-01", hba1c("l1", 52, "mmol/mol")),
        *document(3, None, hba1c("l1", 47, "mmol/mol"), uploaded="2024-04-01T08:00:00+00:00"),
    ]
    points = merge_record(mentions).observations[0].series[0].points
    assert [(p.original_value, p.undated) for p in points] == [(47, True), (52, False), (50, True)]


def test_blood_pressure_is_a_systolic_and_a_diastolic_series() -> None:
    mentions = [
        *document(1, "2024-01-01", ai.Vital("v1", (), "blood_pressure", None, "mm[Hg]", 142, 91)),
        *document(2, "2024-02-01", ai.Vital("v1", (), "blood_pressure", None, "mm[Hg]", 131, 84)),
        *document(3, "2024-02-01", ai.Vital("v2", (), "temperature", 98.6, "[degF]")),
        *document(4, "2024-03-01", ai.Vital("v2", (), "temperature", 37.5, "Cel")),
    ]
    entries = {e.key: e for e in merge_record(mentions).observations}
    assert [p.value for p in entries[SYSTOLIC].series[0].points] == [142, 131]
    assert [p.value for p in entries[DIASTOLIC].series[0].points] == [91, 84]
    assert entries[SYSTOLIC].category == "vital-signs"
    temperature = entries["8310-5"]
    assert temperature.unit == "Cel"
    assert [p.value for p in temperature.series[0].points] == [pytest.approx(37.0), 37.5]


def test_no_documents_is_an_empty_record() -> None:
    record = merge_record([])
    assert record.medications == record.observations == record.conditions == ()


def test_the_merge_does_not_depend_on_the_order_mentions_come_in() -> None:
    mentions = [
        *document(1, "2024-03-01", metformin("m1", 500), hba1c("l1", 48, "mmol/mol")),
        *document(2, "2024-03-01", metformin("m1", 850), hba1c("l1", 7.1, "%")),
        *document(3, None, ai.Allergy("a1", (), "latex", "hives")),
        *document(4, "2021-01-01", ai.Condition("c1", (), "gout", "active")),
    ]
    expected = merge_record(mentions)
    for seed in range(5):
        shuffled = list(mentions)
        random.Random(seed).shuffle(shuffled)
        assert merge_record(shuffled) == expected


def test_a_mention_survives_its_trip_through_json() -> None:
    mentions = document(
        1,
        "2024-01-01",
        metformin("m1", 500),
        ai.Vital("v1", (), "blood_pressure", None, "mm[Hg]", 120, 80),
    )
    assert [mention_from_json(mention_to_json(m)) for m in mentions] == mentions
    assert mentions[0].source.places[0].page == 1


def test_an_entry_as_plain_data_is_what_to_json_gives() -> None:
    from app.pipeline.record.merge import plain

    mentions = [
        *document(1, "2024-01-01", metformin("m1", 500), hba1c("l1", 48, "mmol/mol")),
        *document(2, None, hba1c("l1", 6.8, "%"), ai.Allergy("a1", (), "latex", "hives")),
    ]
    record = merge_record(mentions)
    assert plain(record) == ai.to_json(record)


def test_a_vital_has_one_loinc_code_in_the_record_and_in_fhir() -> None:
    """Oxygen saturation was 59408-5 (pulse oximetry) in the lexicon and 2708-6 in FHIR:
    the record's series and the Observation now take the lexicon's, the code the FHIR
    vital signs profile requires."""
    from app.outputs.fhir import VITAL_NAMES, vital_code

    mentions = document(1, "2024-01-01", ai.Vital("v1", (), "oxygen_saturation", 97.0, "%"))
    assert [m.key for m in mentions] == ["2708-6"] == [vital_code("oxygen_saturation")]
    assert all(vital_code(kind) for kind in VITAL_NAMES)


def test_spaces_around_a_unit_are_no_part_of_it() -> None:
    mentions = [
        *document(1, "2023-01-01", hba1c("l1", 7.0, "%")),
        *document(2, "2024-01-01", replace(hba1c("l1", 6.5, "%"), unit="% ")),
    ]
    (entry,) = merge_record(mentions).observations
    assert [(s.unit, len(s.points)) for s in entry.series] == [("%", 2)]
