"""Adding a document to the record by its witnesses and tallies (`fold`) gives what
merging every mention again gives (`build`): for random documents, added one by one in a
random order (an old letter is often uploaded after newer ones), the summary and state
of every entry, after their trip through JSON, equal those of a full rebuild."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from typing import Any

import pytest

from app.pipeline.ai import types as ai
from app.pipeline.record.fold import EntryState, build, fold, state_from_json, state_to_json
from app.pipeline.record.mentions import DocumentInfo, Mention, document_mentions
from app.pipeline.record.merge import merge_entry
from tests.support.records import random_document


def _through_json(kept: tuple[dict[str, Any], EntryState]) -> tuple[dict[str, Any], EntryState]:
    """What the database gives back of what was written."""
    summary, state = kept
    return json.loads(json.dumps(summary)), state_from_json(
        json.loads(json.dumps(state_to_json(state)))
    )


def _by_entry(mentions: list[Mention]) -> dict[tuple[str, str], list[Mention]]:
    groups: dict[tuple[str, str], list[Mention]] = defaultdict(list)
    for mention in mentions:
        groups[(mention.section, mention.key)].append(mention)
    return groups


@pytest.mark.parametrize("seed", range(60))
def test_documents_folded_in_one_by_one_give_the_full_merge(seed: int) -> None:
    rng = random.Random(seed)
    documents = [random_document(rng, number) for number in range(rng.randint(2, 9))]
    kept: dict[tuple[str, str], tuple[dict[str, Any], EntryState]] = {}
    for mentions in rng.sample(documents, len(documents)):
        for (section, key), group in _by_entry(mentions).items():
            if (section, key) in kept:
                kept[(section, key)] = _through_json(
                    fold(section, key, kept[(section, key)], group)
                )
            else:
                built = build(section, key, group)
                assert built is not None
                kept[(section, key)] = _through_json(built)
    everything = _by_entry([m for mentions in documents for m in mentions])
    assert kept.keys() == everything.keys()
    for (section, key), group in everything.items():
        full = build(section, key, group)
        assert full is not None
        expected_summary, expected_state = _through_json(full)
        summary, state = kept[(section, key)]
        assert summary == expected_summary, (section, key)
        assert state == expected_state, (section, key)


def test_the_witnesses_are_few_however_many_mentions_an_entry_has() -> None:
    """300 documents, 60 of them on one date: an entry keeps a handful of mentions."""
    rng = random.Random(7)
    mentions = [m for number in range(300) for m in random_document(rng, number)]
    for (section, key), group in _by_entry(mentions).items():
        built = build(section, key, group)
        assert built is not None
        # Doses that conflict on the newest date are all shown, so all kept.
        bound = 16 + len(built[0].get("conflict", []))
        assert len(built[1].witnesses) <= bound, (section, key, len(group))


def test_a_test_with_only_results_to_review_lists_each_once() -> None:
    rng = random.Random(3)
    review = ai.LabResult(
        "l1", ("e1",), "HbA1c", 480.0, "480", "mmol/mol", needs_review=True, loinc="59261-8"
    )
    info = DocumentInfo("doc001", "2025-01-01T10:00:00+00:00", "2024-01-01")
    entities = [ai.Entity("e1", "lab_result", "x", 0, 1, 1, None, 0.9)]
    mentions = document_mentions(info, ai.ClinicalRecords(lab_results=(review,)), entities)
    entry: Any = merge_entry("observations", "59261-8", mentions)
    assert [len(s.review) for s in entry.series] == [1] and entry.count == 0
    built = build("observations", "59261-8", mentions)
    assert built is not None
    assert [s["review_count"] for s in built[0]["series"]] == [1]
    del rng
