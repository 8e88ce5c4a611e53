"""The local provider end to end: linking, citations, places, determinism, JSON."""

from __future__ import annotations

import json

import pytest

from app.pipeline.ai.local import LocalProvider
from app.pipeline.ai.types import (
    ClinicalRecords,
    Entity,
    Narrative,
    Usage,
    entities_from_json,
    from_json,
    to_json,
)
from app.pipeline.layout import DocumentText
from tests.support.clinical_corpus import CorpusDocument, corpus, document_text, handwritten


@pytest.fixture(scope="module")
def documents() -> list[CorpusDocument]:
    return [*corpus(per_kind=3), *handwritten()]


def run_all(doc: DocumentText) -> tuple[list[Entity], ClinicalRecords, Narrative]:
    provider = LocalProvider()
    entities, _ = provider.detect_entities(doc)
    records, _ = provider.enrich(doc, entities)
    narrative, _ = provider.narrate(records, entities)
    return entities, records, narrative


def test_entities_are_spans_of_the_text_with_pages_and_boxes(documents) -> None:
    for doc in documents:
        text = document_text(doc)
        entities, _, _ = run_all(text)
        assert [e.id for e in entities] == [f"e{n}" for n in range(1, len(entities) + 1)]
        assert [e.start for e in entities] == sorted(e.start for e in entities)
        for entity in entities:
            assert text.text[entity.start : entity.end] == entity.text
            assert entity.page in range(1, len(doc.pages) + 1)
            assert entity.box is not None and all(0 <= v <= 1 for v in entity.box)
            assert entity.box[0] < entity.box[2] and entity.box[1] < entity.box[3]
            assert 0 < entity.confidence <= 1


def test_an_entity_on_page_two_is_placed_on_page_two(documents) -> None:
    doc = next(d for d in documents if len(d.pages) == 2)
    text = document_text(doc)
    entities, _, _ = run_all(text)
    second = [e for e in entities if e.start > text.text.index(doc.pages[1][0])]
    assert second and all(e.page == 2 for e in second)


def test_every_record_cites_existing_entities_of_its_kind(documents) -> None:
    kinds = {
        "medications": ("medication",),
        "lab_results": ("lab_result",),
        "vitals": ("vital_sign",),
        "conditions": ("condition",),
        "allergies": ("allergy",),
        "immunizations": ("immunization",),
        "procedures": ("procedure",),
    }
    for doc in documents:
        entities, records, _ = run_all(document_text(doc))
        by_id = {e.id: e for e in entities}
        ids = [r.id for r in records.all_records()]
        assert len(ids) == len(set(ids))
        for kind, types in kinds.items():
            for number, record in enumerate(getattr(records, kind), start=1):
                assert record.id == f"{record.id[0]}{number}"
                assert record.entity_ids
                assert all(by_id[i].type in types for i in record.entity_ids)


def test_every_statement_cites_existing_records(documents) -> None:
    for doc in documents:
        _, records, narrative = run_all(document_text(doc))
        known = records.record_ids()
        assert narrative.statements, doc.id
        cited = set()
        for statement in narrative.statements:
            assert statement.record_ids and set(statement.record_ids) <= known
            cited |= set(statement.record_ids)
        assert cited == known  # nothing recorded is left out of the narrative
        assert narrative.summary == " ".join(s.text for s in narrative.statements)
        assert narrative.kind == doc.kind, doc.id
        assert narrative.document_date == records.document_date


def test_the_same_input_gives_the_same_output(documents) -> None:
    for doc in documents[:6]:
        first = json.dumps(to_json(run_all(document_text(doc))))
        again = json.dumps(to_json(run_all(document_text(doc))))
        assert first == again


def test_a_document_without_clinical_content_gives_nothing() -> None:
    entities, records, narrative = run_all(DocumentText("Page 1 of 1\nThank you.\n"))
    assert entities == [] and records.all_records() == ()
    assert narrative.statements == () and narrative.summary == ""
    _, records, _ = run_all(DocumentText(""))
    assert records.document_date is None


def test_usage_of_the_local_provider_is_free() -> None:
    provider = LocalProvider()
    _, usage = provider.detect_entities(DocumentText("Hb 135 g/L"))
    assert usage == Usage("local", "rules-1", 0, 0, 0, 0.0)


def test_day_first_is_a_setting() -> None:
    doc = DocumentText("Date: 03/04/2024\nHb 135 g/L")
    entities, _ = LocalProvider().detect_entities(doc)
    assert LocalProvider().enrich(doc, entities)[0].document_date == "2024-04-03"
    assert LocalProvider(day_first=False).enrich(doc, entities)[0].document_date == "2024-03-04"


def test_every_type_goes_to_json_and_back(documents) -> None:
    entities, records, narrative = run_all(document_text(documents[-1]))
    assert entities_from_json(json.loads(json.dumps(to_json(entities)))) == entities
    assert from_json(ClinicalRecords, json.loads(json.dumps(to_json(records)))) == records
    assert from_json(Narrative, json.loads(json.dumps(to_json(narrative)))) == narrative
    usage = Usage("openai", "m", 2, 10, 5, 0.01)
    assert from_json(Usage, to_json(usage)) == usage


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"provider": "x"}, "missing field 'model'"),
        ({"provider": "x", "model": "m", "tokens": 3}, "unknown fields"),
        ({"provider": "x", "model": 4}, "expected str"),
    ],
)
def test_json_of_the_wrong_shape_is_refused(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_json(Usage, data)


def test_records_read_the_values_of_a_sample_letter() -> None:
    text = DocumentText(
        "Discharge summary\nDate: 12/03/2024\n"
        "Observations: Temperature 100.4 F, BP 142/91 mmHg.\n"
        "Potassium 5.9 mmol/L (3.5-5.3)\n"
        "Medications on discharge:\nMetformin 500 mg PO twice daily\n"
        "Ramipril 5 mg once daily (stopped)\n"
        "Allergies: Penicillin - severe rash\n"
        "Past medical history:\n- Previous myocardial infarction (2015)\n"
    )
    _, records, narrative = run_all(text)
    temperature, pressure = records.vitals
    assert (temperature.type, temperature.value, temperature.unit) == ("temperature", 38.0, "Cel")
    assert (pressure.systolic, pressure.diastolic, pressure.unit) == (142.0, 91.0, "mm[Hg]")
    (potassium,) = records.lab_results
    assert (potassium.value, potassium.unit, potassium.abnormal_flag) == (5.9, "mmol/L", "H")
    assert potassium.loinc == "2823-3"
    metformin, ramipril = records.medications
    assert (metformin.rxnorm, metformin.route, metformin.status) == ("6809", "oral", "active")
    assert ramipril.status == "stopped"
    (allergy,) = records.allergies
    assert (allergy.substance, allergy.reaction, allergy.severity) == (
        "penicillin",
        "rash",
        "severe",
    )
    (infarction,) = records.conditions
    assert (infarction.status, infarction.onset_date, infarction.code) == (
        "history",
        "2015",
        "22298006",
    )
    assert records.document_kind == "discharge_summary"
    assert "potassium 5.9 mmol/L (high, range 3.5-5.3)" in narrative.summary
