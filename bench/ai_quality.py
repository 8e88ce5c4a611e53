"""Precision, recall and F1 of the local AI provider, per entity type, on known corpora."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from app.pipeline.ai.local import LocalProvider
from app.pipeline.layout import DocumentText
from bench import harness
from tests.support.clinical_corpus import (
    CorpusDocument,
    Evaluation,
    Miss,
    corpus,
    evaluate,
    handwritten,
    load,
    save,
    style_table,
    table,
)
from tests.support.devset import check_documents, dev_documents

FLOORS = {"medication": 0.90, "lab_result": 0.90, "vital_sign": 0.90}
DEFAULT_FLOOR, NEGATION_FLOOR = 0.80, 0.90


def run_local(text: DocumentText) -> tuple[list, object]:
    provider = LocalProvider()
    entities, _ = provider.detect_entities(text)
    records, _ = provider.enrich(text, entities)
    return entities, records


def report(title: str, documents: list[CorpusDocument], misses: int) -> Evaluation:
    started = time.perf_counter()
    evaluation = evaluate(documents, run_local)
    elapsed = time.perf_counter() - started
    pages = sum(len(doc.pages) for doc in documents)
    print(f"\n## {title}: {len(documents)} documents, {pages} pages ({elapsed:.2f} s)\n")
    print(table(evaluation))
    print(f"\nnegation right on {evaluation.negation_accuracy():.3f} of negated mentions")
    for line in evaluation.misses[:misses]:
        print(f"  - {line}")
    return evaluation


def report_dev(
    documents: list[CorpusDocument], misses: int, title: str | None = None
) -> Evaluation:
    """The development set's section (or, with `title`, another hand-written set's): the
    usual table, then medication and condition per house style ("clinical notes" are US,
    UK and AU), then up to `misses` errors."""
    started = time.perf_counter()
    evaluation = evaluate(documents, run_local, group=lambda doc: doc.style)
    notes = [doc for doc in documents if doc.style != "abstract"]
    evaluation.groups["notes"] = evaluate(notes, run_local)
    elapsed = time.perf_counter() - started
    pages = sum(len(doc.pages) for doc in documents)
    heading = title or f"development set (hand-written, {len(documents)} documents"
    print(f"\n## {heading}, {pages} pages; {elapsed:.2f} s)\n")
    print("Only the types a document annotates are scored on it; not a floor.\n")
    with_records = any(doc.records for doc in documents)
    print(table(evaluation, records=with_records))
    if not with_records:
        dates = evaluation.document_dates
        print(f"\ndocument dates     {dates.gold:>4}  correct {dates.recall:.3f}")
    print(f"\nnegation right on {evaluation.negation_accuracy():.3f} of negated mentions")
    print("\nper style (notes = US + UK + AU)\n")
    print(style_table(evaluation))
    if misses:
        print(f"\nerrors ({misses} of {len(evaluation.errors)}, spread over types and kinds):")
        for error in spread(evaluation.errors, misses):
            print(f"  {error.doc:<22} {error.kind:<22} {error.type:<16} {error.text!r}")
            print(f"  {'':<22} in: {error.line[:100]}")
    return evaluation


def report_check(misses: int) -> dict[str, Any]:
    """The blind check set's section, as report_dev prints it; returns its figures."""
    documents = check_documents()
    title = f"check set (blind, {len(documents)} documents"
    return dev_figures(report_dev(documents, misses, title), documents)


def spread(errors: list[Miss], count: int) -> list[Miss]:
    """Up to `count` errors taken in turn from each (kind, type) pile, so that a short
    list still shows every sort of error; each pile keeps document order."""
    piles: dict[tuple[str, str], list[Miss]] = {}
    for error in errors:
        piles.setdefault((error.kind, error.type), []).append(error)
    chosen: list[Miss] = []
    while len(chosen) < count and any(piles.values()):
        for key in sorted(piles):
            if piles[key] and len(chosen) < count:
                chosen.append(piles[key].pop(0))
    return sorted(chosen, key=lambda e: (e.doc, e.kind, e.type))


def headline_rows(scores: dict[str, Any]) -> list[harness.Row]:
    """F1 of the three main types and the lowest other, and negation, against their floors."""
    entities, gold = scores["entities"], "gold annotations of the synthetic corpus"
    rows = [harness.row(f"AI lane F1, {kind}", entities[kind]["f1"], "F1", gold, None,
                        floor=f">= {floor}", met=entities[kind]["f1"] >= floor)
            for kind, floor in FLOORS.items() if kind in entities]  # fmt: skip
    others = {k: v["f1"] for k, v in entities.items() if k not in FLOORS}
    if others:
        low = min(others, key=lambda k: others[k])
        rows.append(harness.row(f"AI lane F1, other types (lowest: {low})", others[low], "F1",
                                gold, None, floor=f">= {DEFAULT_FLOOR}",
                                met=all(v >= DEFAULT_FLOOR for v in others.values())))  # fmt: skip
    negation = scores["negation_accuracy"]
    floor = f">= {NEGATION_FLOOR}"
    return [*rows, harness.row("AI lane negation right", negation, "share", gold, None,
                               floor=floor, met=negation >= NEGATION_FLOOR)]  # fmt: skip


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, help="a folder of corpus JSON files")
    parser.add_argument("--write-corpus", type=Path, metavar="FOLDER")
    parser.add_argument("--seed", type=int, default=20240312)
    parser.add_argument("--per-kind", type=int, default=10)
    parser.add_argument("--misses", type=int, default=0, help="list this many errors")
    parser.add_argument("--dev-only", action="store_true", help="score only the development set")
    parser.add_argument("--check", action="store_true",
                        help="score the blind check set (tests/corpus/check/); alone, "
                        "only that")  # fmt: skip
    return parser.parse_args(argv)


def figures(evaluation: Evaluation) -> dict[str, Any]:
    keys = ("precision", "recall", "f1", "gold", "predicted")
    entities = {kind: {k: getattr(s, k) for k in keys} for kind, s in evaluation.entities.items()}
    return {"entities": entities, "negation_accuracy": evaluation.negation_accuracy()}


def dev_figures(evaluation: Evaluation, documents: list[CorpusDocument]) -> dict[str, Any]:
    return {
        "documents": len(documents),
        **figures(evaluation),
        "flags": {
            flag: {"recall": s.recall, "precision": s.precision, "gold": s.gold}
            for flag, s in evaluation.flags.items()
        },
        "by_style": {name: figures(part) for name, part in sorted(evaluation.groups.items())},
        "errors": [asdict(error) for error in evaluation.errors],
    }


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    """Score the corpus named by `argv` (the synthetic one by default), print the tables,
    and return the scores: F1 per entity type, negation accuracy, floors missed. Raises
    SystemExit when the folder holds no corpus files."""
    args = parse_args(argv)
    developed = dev_documents()
    if args.dev_only or args.check:
        parameters: dict[str, bool] = {"dev_only": True} if args.dev_only else {}
        if args.check:
            parameters["check"] = True
        payload: dict[str, Any] = {"parameters": parameters}
        if args.dev_only:
            dev = report_dev(developed, args.misses)
            payload["dev"] = dev_figures(dev, developed)
        if args.check:
            payload["check"] = report_check(args.misses)
        name = "ai_quality_dev" if not args.check else "ai_quality_check"
        if args.dev_only and args.check:
            name = "ai_quality_hand"
        harness.write_results(name, payload)
        return {**payload, "below_floor": []}
    if args.folder:
        documents = load(args.folder)
        if not documents:
            raise SystemExit(f"no *.json corpus files in {args.folder}")
        evaluation = report(f"corpus in {args.folder}", documents, args.misses)
        held_out = None
    else:
        generated = corpus(args.seed, args.per_kind)
        evaluation = report(f"synthetic corpus (seed {args.seed})", generated, args.misses)
        held_out = report("held-out hand-written documents", handwritten(), args.misses)
    rows = headline_rows(figures(evaluation))
    failures = [f"{r.figure} {r.value:.3f}, floor {r.floor}" for r in rows if r.met is False]
    headline = harness.headline(rows)
    dev = report_dev(developed, args.misses)
    payload = {
        "parameters": {"seed": args.seed, "per_kind": args.per_kind, "folder": args.folder},
        "corpus": figures(evaluation),
        "held_out": figures(held_out) if held_out else None,
        "dev": dev_figures(dev, developed),
        "floors": {kind: FLOORS.get(kind, DEFAULT_FLOOR) for kind in evaluation.entities},
        "negation_floor": NEGATION_FLOOR,
        "below_floor": failures,
        "headline": headline,
    }
    harness.write_results("ai_quality", payload)
    return payload


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.write_corpus:
        paths = save([*corpus(args.seed, args.per_kind), *handwritten()], args.write_corpus)
        print(f"wrote {len(paths)} corpus files to {args.write_corpus}")
        return 0
    return 1 if run(argv)["below_floor"] else 0


if __name__ == "__main__":
    sys.exit(main())
