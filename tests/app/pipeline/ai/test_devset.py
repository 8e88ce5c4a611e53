"""The development set (tests/corpus/dev/): its loader, and that the set is what it claims.

These tests check the gold, not the extractor: every mark lands where the loader says,
the set is big and mixed enough, and a malformed file is refused with a clear message.
The extractor's scores on the set are reported by bench/ai_quality.py.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from app.pipeline.ai.types import ENTITY_TYPES
from tests.support.clinical_corpus import CorpusDocument, document_text, gold_spans
from tests.support.devset import STYLES, DevSetError, check_documents, dev_documents, parse

GOOD = """---
id: tiny
kind: clinic_letter
style: UK
document_date: 2024-03-12
types: medication, condition
---
DH: [[medication:Ramipril 5mg od]]
PMH:   [[condition|hist:hypertension]],  no [[condition|neg,hyp:stroke]]
\\f
Page two: [[medication:aspirin]]
"""


@pytest.fixture(scope="module")
def documents() -> list[CorpusDocument]:
    return dev_documents()


def test_the_set_is_big_and_covers_every_style(documents: list[CorpusDocument]) -> None:
    assert len(documents) >= 45
    styles = Counter(doc.style for doc in documents)
    assert set(styles) == set(STYLES)
    assert styles["abstract"] >= 6
    assert len({doc.id for doc in documents}) == len(documents)


def test_every_mark_sits_where_the_loader_says(documents: list[CorpusDocument]) -> None:
    for doc in documents:
        text = document_text(doc)
        spans = gold_spans(doc, text)  # raises if a mark's text is not at its place
        assert len(spans) == len(doc.entities), doc.id
        for start, end, entity in spans:
            assert text.text[start:end] == entity.text, (doc.id, entity)


def test_each_document_annotates_only_the_types_it_declares(
    documents: list[CorpusDocument],
) -> None:
    for doc in documents:
        assert doc.scored_types, doc.id
        assert set(doc.scored_types) <= set(ENTITY_TYPES), doc.id
        assert {e.type for e in doc.entities} <= set(doc.scored_types), doc.id
        if doc.style == "abstract":
            assert set(doc.scored_types) == {"condition", "medication"}, doc.id


def test_the_set_carries_every_type_and_context_flag(documents: list[CorpusDocument]) -> None:
    entities = [e for doc in documents for e in doc.entities]
    counts = Counter(e.type for e in entities)
    for kind in ("medication", "condition", "procedure", "allergy", "lab_result"):
        assert counts[kind] >= 30, (kind, counts)
    for kind in ("immunization", "vital_sign", "observation"):
        assert counts[kind] >= 20, (kind, counts)
    for flag in ("negated", "historical", "family", "hypothetical"):
        assert sum(getattr(e, flag) for e in entities) >= 8, flag
    assert sum(len(doc.pages) > 1 for doc in documents) >= 1


def test_a_file_reads_into_pages_lines_and_flags() -> None:
    doc = parse(GOOD)
    assert doc.pages == (
        ("DH: Ramipril 5mg od", "PMH: hypertension, no stroke"),
        ("Page two: aspirin",),
    )
    assert doc.document_date == "2024-03-12"
    assert doc.style == "UK" and doc.scored_types == ("medication", "condition")
    ramipril, hypertension, stroke, aspirin = doc.entities
    assert (ramipril.page, ramipril.line, ramipril.column) == (1, 0, 4)
    assert (hypertension.line, hypertension.column, hypertension.historical) == (1, 5, True)
    assert stroke.negated and stroke.hypothetical and not stroke.historical
    assert (aspirin.page, aspirin.line, aspirin.column) == (2, 0, 10)
    assert len(gold_spans(doc, document_text(doc))) == 4


BROKEN = [
    ("[[medication:Ramipril 5mg od]]", "[[medication Ramipril 5mg od]]", "malformed mark"),
    ("[[medication:Ramipril 5mg od]]", "[[medication:Ramipril 5mg od]", "malformed mark"),
    ("[[medication:aspirin]]", "[[medication:aspirin\n]]", "malformed mark"),
    ("[[condition|hist:", "[[condition|past:", "unknown flag 'past'"),
    ("[[medication:aspirin]]", "[[allergy:aspirin]]", "type 'allergy' is not in the header"),
    ("[[medication:aspirin]]", "[[medication:  ]]", "an empty mark"),
    ("style: UK", "style: NZ", "style 'NZ'"),
    ("types: medication, condition", "types: medication, conditions", "unknown types"),
    ("document_date: 2024-03-12", "document_date: 12/03/2024", "not YYYY-MM-DD"),
    ("\\f\n", "\\f\n\\f\n", "an empty page"),
]


@pytest.mark.parametrize(("old", "new", "message"), BROKEN)
def test_a_malformed_file_is_refused_with_a_clear_error(old: str, new: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(DevSetError, match=re.escape(message)):
        parse(GOOD.replace(old, new, 1), "tiny.txt")


def test_the_error_names_the_file_and_line() -> None:
    with pytest.raises(DevSetError, match=r"^tiny\.txt:8: malformed mark"):
        parse(GOOD.replace("[[medication:Ramipril", "[[medication Ramipril"), "tiny.txt")


def test_a_file_whose_id_differs_from_its_name_is_refused() -> None:
    with pytest.raises(DevSetError, match="differs from the file name"):
        parse(GOOD, "other.txt")


# ---------------------------------------------------------------- the blind check set


@pytest.fixture(scope="module")
def checked() -> list[CorpusDocument]:
    return check_documents()


def test_the_check_set_loads_and_every_mark_sits_where_the_loader_says(
    checked: list[CorpusDocument],
) -> None:
    assert len(checked) >= 25
    assert len({doc.id for doc in checked}) == len(checked)
    assert {doc.style for doc in checked} == set(STYLES)
    for doc in checked:
        assert {e.type for e in doc.entities} <= set(doc.scored_types or ()), doc.id
        if doc.style == "abstract":
            assert set(doc.scored_types or ()) == {"condition", "medication"}, doc.id
        text = document_text(doc)
        spans = gold_spans(doc, text)  # raises if a mark's text is not at its place
        assert len(spans) == len(doc.entities), doc.id
        for start, end, entity in spans:
            assert text.text[start:end] == entity.text, (doc.id, entity)


def test_the_check_set_shares_no_document_with_the_development_set(
    documents: list[CorpusDocument], checked: list[CorpusDocument]
) -> None:
    assert not {doc.id for doc in documents} & {doc.id for doc in checked}
