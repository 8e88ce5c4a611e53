"""Scoring a provider's entities and records against a corpus's gold.

A predicted entity matches a gold one when the types are equal and the spans
overlap (one to one, largest overlap first); a record matches when each of the
gold record's fields equals the predicted record's (floats within 0.051). These
are the scores the tests and bench/ai_quality.py report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.pipeline.layout import DocumentText
from tests.support.clinical_corpus.documents import (
    FLAGS,
    RECORD_KINDS,
    CorpusDocument,
    GoldEntity,
    document_text,
    gold_spans,
)


@dataclass
class Score:
    """Precision, recall and F1 from matched and total counts."""

    matched_predicted: int = 0
    predicted: int = 0
    matched_gold: int = 0
    gold: int = 0

    @property
    def precision(self) -> float:
        return self.matched_predicted / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.matched_gold / self.gold if self.gold else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Miss:
    """One entity error: `kind` is "missed" (gold not found), "spurious" (a prediction
    matching no gold), or "<flag> not set" / "<flag> wrongly set" on a matched pair;
    `line` is the document line the mention starts on."""

    doc: str
    kind: str
    type: str
    text: str
    line: str = ""


@dataclass
class Evaluation:
    entities: dict[str, Score] = field(default_factory=dict)
    flags: dict[str, Score] = field(default_factory=dict)  # per flag: gold-true mentions found true
    records: dict[str, Score] = field(default_factory=dict)
    document_dates: Score = field(default_factory=Score)
    misses: list[str] = field(default_factory=list)  # readable notes of what went wrong
    errors: list[Miss] = field(default_factory=list)  # the entity errors among them, as data
    groups: dict[str, Evaluation] = field(default_factory=dict)  # per `group` of evaluate()

    def negation_accuracy(self) -> float:
        return self.flags["negated"].recall if "negated" in self.flags else 1.0


def match_entities(
    gold: list[tuple[int, int, GoldEntity]], predicted: Sequence[Any]
) -> list[tuple[GoldEntity, Any | None]]:
    """Pairs each gold entity with a predicted one of the same type whose span overlaps it
    (each predicted entity used once, the largest overlap first), or with None."""
    pairs: list[tuple[int, int, int]] = []
    for g, (start, end, entity) in enumerate(gold):
        for p, candidate in enumerate(predicted):
            overlap = min(end, candidate.end) - max(start, candidate.start)
            if candidate.type == entity.type and overlap > 0:
                pairs.append((overlap, g, p))
    used_gold: dict[int, int] = {}
    used_predicted: set[int] = set()
    for _, g, p in sorted(pairs, key=lambda item: (-item[0], item[1], item[2])):
        if g not in used_gold and p not in used_predicted:
            used_gold[g] = p
            used_predicted.add(p)
    return [
        (entity, predicted[used_gold[g]] if g in used_gold else None)
        for g, (_, _, entity) in enumerate(gold)
    ]


def evaluate(
    documents: Sequence[CorpusDocument],
    run: Callable[[DocumentText], Any],
    group: Callable[[CorpusDocument], str | None] | None = None,
) -> Evaluation:
    """Score a provider over the corpus. `run(doc_text)` returns (entities, records).
    With `group`, each document is also scored into `groups[group(doc)]` (a document
    whose group is None only into the whole). A document with `scored_types` has
    predictions of other types dropped before scoring."""
    result = Evaluation()
    for doc in documents:
        text = document_text(doc)
        entities, records = run(text)
        if doc.scored_types is not None:
            entities = [e for e in entities if e.type in doc.scored_types]
        name = group(doc) if group is not None else None
        targets = (
            [result] if name is None else [result, result.groups.setdefault(name, Evaluation())]
        )
        gold = gold_spans(doc, text)
        for target in targets:
            _score_entities(target, doc, gold, entities, text)
            if records is not None:
                _score_records(target, doc, records)
    return result


def _score_entities(
    result: Evaluation,
    doc: CorpusDocument,
    gold: list[tuple[int, int, GoldEntity]],
    entities: Sequence[Any],
    text: DocumentText,
) -> None:
    pairs = match_entities(gold, entities)
    matched = {id(found) for _, found in pairs if found is not None}

    def note(kind: str, type_: str, mention: str, start: int, message: str) -> None:
        result.misses.append(f"{doc.id}: {message}")
        result.errors.append(Miss(doc.id, kind, type_, mention, _line_at(text, start)))

    for (start, _, entity), (_, found) in zip(gold, pairs, strict=True):
        score = result.entities.setdefault(entity.type, Score())
        score.gold += 1
        score.matched_gold += found is not None
        if found is None:
            note("missed", entity.type, entity.text, start, f"missed {entity.type} {entity.text!r}")
            continue
        for flag in FLAGS:
            flag_score = result.flags.setdefault(flag, Score())
            if getattr(entity, flag):
                flag_score.gold += 1
                flag_score.matched_gold += bool(getattr(found, flag))
                if not getattr(found, flag):
                    note(
                        f"{flag} not set",
                        entity.type,
                        entity.text,
                        start,
                        f"{flag} not set on {entity.text!r}",
                    )
            if getattr(found, flag):
                flag_score.predicted += 1
                flag_score.matched_predicted += bool(getattr(entity, flag))
                if not getattr(entity, flag):
                    note(
                        f"{flag} wrongly set",
                        found.type,
                        found.text,
                        found.start,
                        f"{flag} wrongly set on {found.text!r}",
                    )
    for found in entities:
        score = result.entities.setdefault(found.type, Score())
        score.predicted += 1
        score.matched_predicted += id(found) in matched
        if id(found) not in matched:
            note(
                "spurious",
                found.type,
                found.text,
                found.start,
                f"spurious {found.type} {found.text!r}",
            )


def _line_at(text: DocumentText, offset: int) -> str:
    """The document line holding `offset`, for reading an error in its context."""
    start = text.text.rfind("\n", 0, offset) + 1
    end = text.text.find("\n", offset)
    return text.text[start : end if end >= 0 else len(text.text)]


def _score_records(result: Evaluation, doc: CorpusDocument, records: Any) -> None:
    result.document_dates.gold += 1
    result.document_dates.predicted += 1
    if records.document_date == doc.document_date:
        result.document_dates.matched_gold += 1
        result.document_dates.matched_predicted += 1
    else:
        result.misses.append(
            f"{doc.id}: document date {records.document_date} != {doc.document_date}"
        )
    for kind in RECORD_KINDS:
        gold = doc.records.get(kind, [])
        predicted = list(getattr(records, kind))
        score = result.records.setdefault(kind, Score())
        score.gold += len(gold)
        score.predicted += len(predicted)
        left = list(predicted)
        for expected in gold:
            hit = next((r for r in left if _fits(expected, r)), None)
            if hit is None:
                result.misses.append(f"{doc.id}: no {kind} record like {expected}")
                continue
            left.remove(hit)
            score.matched_gold += 1
            score.matched_predicted += 1
        for extra in left:
            result.misses.append(f"{doc.id}: extra {kind} record {extra}")


def _fits(expected: dict[str, Any], record: Any) -> bool:
    for name, value in expected.items():
        found = getattr(record, name)
        if isinstance(value, float) and isinstance(found, float):
            if abs(value - found) > 0.051:
                return False
        elif found != value:
            return False
    return True


def style_table(evaluation: Evaluation, types: Sequence[str] = ("medication", "condition")) -> str:
    """A plain-text table of `types` per group of the evaluation (see evaluate's `group`)."""
    rows = ["group      type               gold  pred  precision  recall     F1"]
    for name, part in sorted(evaluation.groups.items()):
        for kind in types:
            score = part.entities.get(kind)
            if score is None or not (score.gold or score.predicted):
                continue
            rows.append(
                f"{name:<10} {kind:<18} {score.gold:>4}  {score.predicted:>4}"
                f"  {score.precision:>9.3f}  {score.recall:>6.3f}  {score.f1:>5.3f}"
            )
    return "\n".join(rows)


def table(evaluation: Evaluation, records: bool = True) -> str:
    """A plain-text table of the scores, for the benchmark and for failing tests;
    `records=False` leaves out the record rows (a set without gold records)."""
    rows = ["type               gold  pred  precision  recall     F1"]
    for name, score in sorted(evaluation.entities.items()):
        rows.append(
            f"{name:<18} {score.gold:>4}  {score.predicted:>4}  {score.precision:>9.3f}"
            f"  {score.recall:>6.3f}  {score.f1:>5.3f}"
        )
    rows.append("")
    rows.append("flag               gold  found-set  recall  precision")
    for name, score in evaluation.flags.items():
        rows.append(
            f"{name:<18} {score.gold:>4}  {score.matched_gold:>9}  {score.recall:>6.3f}"
            f"  {score.precision:>9.3f}"
        )
    if not records:
        return "\n".join(rows)
    rows.append("")
    rows.append("records            gold  pred  precision  recall     F1")
    for name, score in evaluation.records.items():
        rows.append(
            f"{name:<18} {score.gold:>4}  {score.predicted:>4}  {score.precision:>9.3f}"
            f"  {score.recall:>6.3f}  {score.f1:>5.3f}"
        )
    dates = evaluation.document_dates
    rows.append(f"document dates     {dates.gold:>4}  correct {dates.recall:.3f}")
    return "\n".join(rows)
