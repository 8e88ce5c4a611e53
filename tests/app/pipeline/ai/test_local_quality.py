"""How well the local provider finds what the synthetic corpus knows is there.

Matching rule: a predicted entity matches a gold one when their types are equal
and their character spans overlap (each predicted entity matches at most one gold
entity, the largest overlap first). Precision is matched predictions over all
predictions, recall matched gold over all gold. Negation is scored over every gold
negated mention: a missed mention counts as a wrong one.

The 50 generated documents carry phrasings the rules cannot read on purpose (see
tests/support/clinical_corpus.py); the six hand-written documents are a held-out
check in other house styles, with floors of their own.
"""

from __future__ import annotations

import pytest

from app.pipeline.ai.local import LocalProvider
from app.pipeline.ai.types import ENTITY_TYPES
from app.pipeline.layout import DocumentText
from tests.support.clinical_corpus import (
    CorpusDocument,
    Evaluation,
    corpus,
    document_text,
    evaluate,
    gold_spans,
    handwritten,
    load,
    save,
    table,
)

STRICT = {"medication": 0.90, "lab_result": 0.90, "vital_sign": 0.90}
FLOOR = 0.80


def run_local(text: DocumentText) -> tuple[list, object]:
    provider = LocalProvider()
    entities, _ = provider.detect_entities(text)
    records, _ = provider.enrich(text, entities)
    return entities, records


@pytest.fixture(scope="module")
def generated() -> list[CorpusDocument]:
    return corpus()


@pytest.fixture(scope="module")
def scores(generated: list[CorpusDocument]) -> Evaluation:
    return evaluate(generated, run_local)


@pytest.fixture(scope="module")
def held_out() -> Evaluation:
    return evaluate(handwritten(), run_local)


def test_the_corpus_is_big_and_varied_enough(generated: list[CorpusDocument]) -> None:
    assert len(generated) >= 40
    assert {doc.kind for doc in generated} == {
        "lab_report",
        "discharge_summary",
        "medication_list",
        "clinic_letter",
        "vitals_record",
    }
    assert sum(len(doc.pages) == 2 for doc in generated) >= 10
    entities = [e for doc in generated for e in doc.entities]
    assert {e.type for e in entities} == set(ENTITY_TYPES)
    for flag in ("negated", "historical", "family", "hypothetical"):
        assert sum(getattr(e, flag) for e in entities) >= 15, flag
    # Lines that carry mentions rarely repeat across documents: not one template.
    lines = {(doc.id, doc.pages[e.page - 1][e.line]) for doc in generated for e in doc.entities}
    assert len({text for _, text in lines}) > 0.9 * len(lines)


def test_gold_offsets_match_the_laid_out_text(generated: list[CorpusDocument]) -> None:
    for doc in [*generated, *handwritten()]:
        assert len(gold_spans(doc, document_text(doc))) == len(doc.entities)


@pytest.mark.parametrize("kind", ENTITY_TYPES)
def test_entity_f1_meets_its_floor(scores: Evaluation, kind: str) -> None:
    score = scores.entities[kind]
    assert score.gold >= 10, f"too few {kind} mentions to measure"
    assert score.f1 >= STRICT.get(kind, FLOOR), table(scores)


def test_negation_is_right_on_nine_in_ten_negated_mentions(scores: Evaluation) -> None:
    assert scores.flags["negated"].gold >= 50
    assert scores.negation_accuracy() >= 0.90, table(scores)
    assert scores.flags["negated"].precision >= 0.90, table(scores)


@pytest.mark.parametrize("flag", ["historical", "family", "hypothetical"])
def test_other_context_flags_are_mostly_right(scores: Evaluation, flag: str) -> None:
    assert scores.flags[flag].recall >= 0.80, table(scores)
    assert scores.flags[flag].precision >= 0.90, table(scores)


@pytest.mark.parametrize(
    ("kind", "floor"),
    [("medications", 0.90), ("lab_results", 0.90), ("vitals", 0.90), ("conditions", 0.85)],
)
def test_records_match_the_gold_fields(scores: Evaluation, kind: str, floor: float) -> None:
    assert scores.records[kind].f1 >= floor, table(scores)


def test_document_dates_are_read(scores: Evaluation) -> None:
    assert scores.document_dates.recall >= 0.95, table(scores)


def test_held_out_documents_clear_a_lower_floor(held_out: Evaluation) -> None:
    for kind, score in held_out.entities.items():
        if score.gold >= 5:
            assert score.f1 >= 0.80, f"{kind}\n{table(held_out)}"
    assert held_out.negation_accuracy() >= 0.80, table(held_out)


def test_a_saved_corpus_loads_back_the_same(tmp_path, generated) -> None:
    save(generated[:5], tmp_path)
    assert load(tmp_path) == generated[:5]
