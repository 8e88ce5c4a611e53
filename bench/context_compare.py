"""Context flags on gold mentions: the project's ConText rules against medspaCy's ConText."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.pipeline.ai.context import SECTION_FLAGS, Context
from app.pipeline.ai.detect import _NO_ALLERGY, FLAG_CATEGORIES, MEASURED
from app.pipeline.ai.text import Analysis
from app.pipeline.layout import DocumentText
from bench import harness
from tests.support.clinical_corpus import (
    FLAGS,
    CorpusDocument,
    GoldEntity,
    corpus,
    document_text,
    gold_spans,
    handwritten,
)

MEDSPACY_VERSION = "1.3.1"
SPAN_GROUP = "gold"
MEDSPACY_ATTRIBUTES = {flag: f"is_{flag}" for flag in ("negated", "historical", "family",
                                                        "hypothetical")}  # fmt: skip

Flags = frozenset[str]


class MedspacyMissing(RuntimeError):
    pass


# ---------------------------------------------------------------- mentions


@dataclass(frozen=True)
class Prepared:
    """One document as both systems receive it."""

    doc: CorpusDocument
    text: DocumentText
    spans: tuple[tuple[int, int], ...]  # the scored gold mentions
    gold: tuple[GoldEntity, ...]
    no_allergy: tuple[bool, ...]  # detect.py's "no known allergies" rule applies


def prepare(documents: Sequence[CorpusDocument]) -> tuple[list[Prepared], dict[str, int]]:
    prepared, counts = [], {"mentions": 0, "measured_skipped": 0, "measured_with_flags": 0}
    for doc in documents:
        text = document_text(doc)
        kept = []
        for start, end, entity in gold_spans(doc, text):
            if entity.type in MEASURED:
                counts["measured_skipped"] += 1
                counts["measured_with_flags"] += any(getattr(entity, f) for f in FLAGS)
                continue
            kept.append((start, end, entity))
        counts["mentions"] += len(kept)
        no_allergy = tuple(bool(_NO_ALLERGY.fullmatch(text.text[s:e])) for s, e, _ in kept)
        spans, gold = tuple((s, e) for s, e, _ in kept), tuple(g for _, _, g in kept)
        prepared.append(Prepared(doc, text, spans, gold, no_allergy))
    return prepared, counts


def to_flags(categories: set[str] | frozenset[str]) -> Flags:
    return frozenset(name for name, wanted in FLAG_CATEGORIES.items() if categories & set(wanted))


def section_flags(analysis: Analysis, start: int) -> Flags:
    section = analysis.section_at(start)
    if section is None:
        return frozenset()
    return to_flags(SECTION_FLAGS.get(section.name, frozenset()))


# ---------------------------------------------------------------- systems

# A system: one document in, the flags of each of its scored mentions out.
System = Callable[[Prepared], list[Flags]]


def ours(item: Prepared) -> list[Flags]:
    context = Context(Analysis(item.text))
    return [
        frozenset({"negated"}) if no_allergy else to_flags(context.categories(start, end))
        for (start, end), no_allergy in zip(item.spans, item.no_allergy, strict=True)
    ]


class Medspacy:
    """medspaCy's ConText with its default English rules, on the gold spans."""

    def __init__(self, *, our_sections: bool = False) -> None:
        try:
            import medspacy
        except ImportError as error:
            raise MedspacyMissing(
                f"medspacy is not installed in {sys.executable} ({error}); make a separate venv:"
                f" python3 -m venv /tmp/ctxvenv && /tmp/ctxvenv/bin/pip install -e '.[dev]'"
                f" medspacy=={MEDSPACY_VERSION}"
            ) from error
        self.version = getattr(medspacy, "__version__", "?")
        # PyRuSH (medspaCy's sentence splitter) logs every sentence start at DEBUG to
        # stderr through loguru; a deployment would silence it, and so does this.
        from loguru import logger

        logger.disable("PyRuSH")
        # medspacy.load()'s default pipeline is tokenizer, pyrush, target matcher and
        # context; the target matcher finds nothing without rules, and the targets here
        # are the gold spans, which ConText reads from a span group (they may overlap).
        self.nlp = medspacy.load(medspacy_enable=["medspacy_tokenizer", "medspacy_pyrush"])
        config = {"input_span_type": "group", "span_group_name": SPAN_GROUP}
        self.nlp.add_pipe("medspacy_context", config=config)
        self.our_sections = our_sections

    def __call__(self, item: Prepared) -> list[Flags]:
        text = item.text.text
        doc = self.nlp.make_doc(text)
        analysis = Analysis(item.text) if self.our_sections else None
        spans = [doc.char_span(s, e, alignment_mode="expand") for s, e in item.spans]
        doc.spans[SPAN_GROUP] = [span for span in spans if span is not None]
        doc = self.nlp(doc)
        found: list[Flags] = []
        group = iter(doc.spans[SPAN_GROUP])
        for span, (start, _), no_allergy in zip(spans, item.spans, item.no_allergy, strict=True):
            flags: Flags = frozenset()
            if span is not None:  # a gold span with no token span: never seen so far
                target = next(group)
                attributes = MEDSPACY_ATTRIBUTES.items()
                flags = frozenset(name for name, attr in attributes if getattr(target._, attr))
            if no_allergy:
                flags = frozenset({"negated"})
            if self.our_sections:
                assert analysis is not None
                flags |= section_flags(analysis, start)
            found.append(flags)
        return found


# ---------------------------------------------------------------- scoring


def _share(part: int, whole: int) -> float:
    return part / whole if whole else float("nan")


@dataclass
class FlagScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, gold: bool, predicted: bool) -> None:
        kind = ("tp" if predicted else "fn") if gold else ("fp" if predicted else "tn")
        setattr(self, kind, getattr(self, kind) + 1)

    def figures(self) -> dict[str, float]:
        """Counts, precision, recall, F1 (NaN with nothing to score) and accuracy."""
        tp, fp, fn, tn = self.tp, self.fp, self.fn, self.tn
        return {
            "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": _share(self.tp, self.tp + self.fp),
            "recall": _share(self.tp, self.tp + self.fn),
            "f1": _share(2 * self.tp, 2 * self.tp + self.fp + self.fn),
            "accuracy": _share(self.tp + self.tn, self.tp + self.fp + self.fn + self.tn),
        }  # fmt: skip


@dataclass
class Result:
    flags: dict[str, FlagScore] = field(default_factory=lambda: {f: FlagScore() for f in FLAGS})
    exact: int = 0  # mentions with all four flags right
    mentions: int = 0
    seconds: float = float("inf")
    errors: list[str] = field(default_factory=list)


def score(system: System, items: Sequence[Prepared], repeat: int) -> Result:
    result = Result()
    for run in range(repeat):
        started = time.perf_counter()
        predictions = [system(item) for item in items]
        result.seconds = min(result.seconds, time.perf_counter() - started)
        if run:
            continue
        for item, predicted in zip(items, predictions, strict=True):
            for (start, end), gold, flags in zip(item.spans, item.gold, predicted, strict=True):
                wanted = frozenset(f for f in FLAGS if getattr(gold, f))
                result.mentions += 1
                result.exact += wanted == flags
                for name in FLAGS:
                    result.flags[name].add(name in wanted, name in flags)
                if wanted != flags:
                    result.errors.append(_error(item, start, end, wanted, flags))
    return result


def _error(item: Prepared, start: int, end: int, gold: Flags, predicted: Flags) -> str:
    text = item.text.text
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = max(end, line_end if line_end >= 0 else len(text))
    marked = f"{text[line_start:start]}[[{text[start:end]}]]{text[end:line_end]}"
    return (
        f"{item.doc.id}: gold {sorted(gold) or '-'} got {sorted(predicted) or '-'}: "
        f"{' '.join(marked.split())[:160]}"
    )


# ---------------------------------------------------------------- corpora


def corpora(seed: int) -> list[tuple[str, list[CorpusDocument]]]:
    from tests.support.devset import dev_documents

    documents = dev_documents()
    found = [(f"synthetic (seed {seed})", corpus(seed)), ("hand-written (6)", handwritten())]
    return found + [(f"development set ({len(documents)})", documents)] * bool(documents)


# ---------------------------------------------------------------- memory


def rss_probe(which: str, seed: int) -> None:
    """Run in a fresh process: load `which`, run it over the synthetic corpus, print RSS."""
    items, _ = prepare(corpus(seed))
    system: System | None = None
    if which == "ours":
        system = ours
    elif which == "medspacy":
        system = Medspacy()
    if system is not None:
        for item in items:
            system(item)
    # VmHWM, not getrusage's ru_maxrss: a child started from a big parent inherits
    # the parent's ru_maxrss across exec.
    status = Path("/proc/self/status").read_text()
    peak_kib = int(status.split("VmHWM:", 1)[1].split()[0])
    print(json.dumps({"system": which, "peak_rss_mib": peak_kib / 1024}))


def measure_rss(which: str, seed: int) -> float:
    argv = [
        sys.executable,
        "-m",
        "bench.context_compare",
        "--rss-probe",
        which,
        "--seed",
        str(seed),
    ]
    done = subprocess.run(argv, cwd=harness.PROJECT_ROOT, capture_output=True, text=True,
                          check=False, timeout=600)  # fmt: skip
    if done.returncode != 0:
        harness.log(f"RSS probe {which} failed: {done.stderr.strip()[-300:]}")
        return float("nan")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_mib"])


# ---------------------------------------------------------------- report


def flag_table(results: dict[str, Result]) -> str:
    rows = []
    for flag in FLAGS:
        for name, result in results.items():
            s = result.flags[flag].figures()
            scores = (harness.fmt(s[k], 3) for k in ("precision", "recall", "f1", "accuracy"))
            rows.append([flag, name, s["tp"] + s["fn"], f"{s['tp']}/{s['fp']}/{s['fn']}", *scores])
    for name, result in results.items():
        exact = result.exact / result.mentions if result.mentions else float("nan")
        rows.append(["all four right", name, result.mentions, *[""] * 4, harness.fmt(exact, 3)])
    headers = ["flag", "system", "gold +", "tp/fp/fn", "precision", "recall", "F1", "accuracy"]
    return harness.markdown_table(headers, rows)


def figures(result: Result) -> dict[str, Any]:
    return {"flags": {flag: s.figures() for flag, s in result.flags.items()},
            "all_four_right": result.exact / result.mentions if result.mentions else None,
            "mentions": result.mentions, "seconds": result.seconds}  # fmt: skip


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20240312, help="of the synthetic corpus")
    parser.add_argument("--repeat", type=int, default=5, help="timing runs; the best counts")
    parser.add_argument("--misses", type=int, default=0, help="list this many errors per system")
    parser.add_argument("--no-rss", action="store_true", help="skip the memory probes")
    parser.add_argument("--rss-probe", choices=("none", "ours", "medspacy"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def load_systems() -> tuple[dict[str, System], dict[str, Any]]:
    """Ours, and medspaCy alone and with our section flags where it is installed."""
    systems: dict[str, System] = {"ours": ours}
    try:
        started = time.perf_counter()
        plain = Medspacy()
    except MedspacyMissing as error:
        print(f"\nmedspaCy: NOT INSTALLED. {error}\nOnly the project's rules are scored.\n")
        return systems, {"medspacy_version": None, "medspacy_load_seconds": None}
    loaded = {"medspacy_version": plain.version,
              "medspacy_load_seconds": time.perf_counter() - started}  # fmt: skip
    systems["medspaCy"] = plain
    systems["medspaCy + our sections"] = Medspacy(our_sections=True)
    print(f"\nmedspaCy {plain.version}, ConText with its default English rules")
    return systems, loaded


def score_corpus(title: str, documents: list[CorpusDocument], systems: dict[str, System],
                 args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    """Every system on one corpus: the flag table, time per document, the misses."""
    items, counts = prepare(documents)
    results = {name: score(system, items, args.repeat) for name, system in systems.items()}
    flagged = counts["measured_with_flags"]
    print(f"\n## {title}: {len(items)} documents, {counts['mentions']} mentions scored"
          f" ({counts['measured_skipped']} results/readings take no context"
          + (f", {flagged} of them flagged in the gold!" if flagged else "") + ")\n")  # fmt: skip
    print(flag_table(results))
    base, fmt = results["ours"].seconds, harness.fmt
    harness.table(f"time per document (best of {args.repeat}), ratio to ours:",
                  ["system", "ms/doc", "vs ours"],
                  [[name, fmt(1000 * r.seconds / max(len(items), 1), 2),
                    fmt(harness.ratio(r.seconds, base), 1) + " x"]
                   for name, r in results.items()])  # fmt: skip
    for name, result in results.items() if args.misses else ():
        print(f"\n{name}: {len(result.errors)} mentions with a flag wrong; the first:")
        for line in result.errors[: args.misses]:
            print(f"  - {line}")
    systems_figures = {name: figures(r) for name, r in results.items()}
    return {"documents": len(items), **counts, "systems": systems_figures}  # fmt: skip


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    """Score every system on every corpus, print the tables, return the figures."""
    args = parse_args(argv)
    systems, loaded = load_systems()
    payload: dict[str, Any] = {"parameters": {"seed": args.seed, "repeat": args.repeat},
                               **loaded, "corpora": {}}  # fmt: skip
    for title, documents in corpora(args.seed):
        payload["corpora"][title] = score_corpus(title, documents, systems, args)
    if not args.no_rss:
        probes = ["none", "ours"] + (["medspacy"] if loaded["medspacy_version"] else [])
        rss = payload["peak_rss_mib"] = {which: measure_rss(which, args.seed) for which in probes}
        labels = {"none": "corpus only (baseline)", "ours": "ours", "medspacy": "medspaCy"}
        harness.table("peak RSS of a fresh process over the synthetic corpus:",
                      ["process", "peak RSS MiB", "over baseline MiB"],
                      [[labels[w], harness.fmt(v, 1), harness.fmt(v - rss["none"], 1)]
                       for w, v in rss.items()])  # fmt: skip
    harness.write_results("context_compare", payload)
    return payload


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.rss_probe:
        rss_probe(args.rss_probe, args.seed)
    else:
        run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
