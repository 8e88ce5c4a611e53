"""The vocabularies of the local provider, loaded from the CSV files in `data/`.

Each file lists concepts, one a row, with `|`-separated synonyms (README.md there
names the sources). A synonym prefixed with `^` matches case-sensitively (short
abbreviations: "K", "BP", "AF"); one prefixed with `@` counts only inside the
section its kind belongs to (a bare "Influenza" under "Immunisations").

`Lexicon.scan(text)` finds every term in one pass per case mode: one compiled
alternation, longest terms first, so at any position the longest term wins. Words
of a term may be split by any run of spaces, hyphens or a line break.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

DATA_DIR = Path(__file__).with_name("data")

# The kind of each file's concepts, and the section a `@` synonym needs.
KINDS = {
    "medications.csv": ("medication", "medications"),
    "brands.csv": ("medication", "medications"),
    "labs.csv": ("lab", "results"),
    "vitals.csv": ("vital", "vital_signs"),
    "conditions.csv": ("condition", "diagnosis"),
    "abbreviations.csv": ("condition", "diagnosis"),
    "observations.csv": ("observation", "presenting_complaint"),
    "physical_findings.csv": ("physical_finding", "examination"),
    "allergens.csv": ("allergen", "allergies"),
    "vaccines.csv": ("vaccine", "immunizations"),
    "procedures.csv": ("procedure", "procedures"),
}


@dataclass(frozen=True)
class LabUnit:
    """One unit a test is reported in, with its code and typical adult range."""

    unit: str
    loinc: str | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Concept:
    kind: str  # medication, lab, vital, condition, observation, ...
    name: str  # the canonical name (a vital's type)
    code: str | None = None  # RxNorm, SNOMED CT or LOINC
    units: tuple[LabUnit, ...] = ()  # labs: first is the default; vitals: one


@dataclass(frozen=True)
class Hit:
    start: int
    end: int
    concept: Concept
    section_only: str | None = None  # the section this synonym needs, if any
    source: str = "lexicon"  # lexicon (the curated lists here) or vocabulary (vocabulary.py)


@dataclass
class _Table:
    terms: dict[str, list[tuple[Concept, str | None]]] = field(default_factory=dict)

    def add(self, key: str, concept: Concept, section_only: str | None) -> None:
        entries = self.terms.setdefault(key, [])
        if all(existing is not concept for existing, _ in entries):
            entries.append((concept, section_only))

    def pattern(self, flags: int) -> re.Pattern[str] | None:
        if not self.terms:
            return None
        alternatives = sorted(self.terms, key=lambda term: (-len(term), term))
        body = "|".join(term_regex(term) for term in alternatives)
        return re.compile(rf"(?<![\w-])(?:{body})(?!\w)", flags)


def term_regex(term: str) -> str:
    return r"[\s\-]+".join(re.escape(word) for word in term.split(" "))


def normalise_term(text: str) -> str:
    return re.sub(r"[\s\-]+", " ", text).strip()


class Lexicon:
    """Concepts and their synonyms; `scan` finds them in text."""

    def __init__(self, concepts: list[tuple[Concept, list[str], str]]) -> None:
        self._folded = _Table()
        self._exact = _Table()
        self.concepts: dict[tuple[str, str], Concept] = {}
        for given, synonyms, section in concepts:
            # a second row of the same concept (a brand in brands.csv) joins the first
            concept = self.concepts.setdefault((given.kind, given.name.lower()), given)
            for synonym in [concept.name, *synonyms]:
                self._add(concept, synonym, section)
        self._folded_re = self._folded.pattern(re.IGNORECASE)
        self._exact_re = self._exact.pattern(0)

    def _add(self, concept: Concept, synonym: str, section: str) -> None:
        section_only = None
        if synonym.startswith("@"):
            synonym, section_only = synonym[1:], section
        if synonym.startswith("^"):
            self._exact.add(normalise_term(synonym[1:]), concept, section_only)
        else:
            self._folded.add(normalise_term(synonym).lower(), concept, section_only)

    def scan(self, text: str) -> list[Hit]:
        """Every term found in `text`, in order of position (a term may hit several concepts)."""
        hits = list(self._hits(text, self._folded_re, self._folded, fold=True))
        hits += self._hits(text, self._exact_re, self._exact, fold=False)
        hits.sort(key=lambda hit: (hit.start, -hit.end, hit.concept.kind, hit.concept.name))
        return hits

    @staticmethod
    def _hits(
        text: str, pattern: re.Pattern[str] | None, table: _Table, *, fold: bool
    ) -> Iterator[Hit]:
        if pattern is None:
            return
        for match in pattern.finditer(text):
            key = normalise_term(match.group())
            for concept, section_only in table.terms.get(key.lower() if fold else key, []):
                yield Hit(match.start(), match.end(), concept, section_only)

    def find(self, kind: str, text: str) -> Concept | None:
        """The concept of `kind` named first in `text` (longest synonym at the earliest place)."""
        for hit in self.scan(text):
            if hit.concept.kind == kind:
                return hit.concept
        return None

    def get(self, kind: str, name: str) -> Concept | None:
        return self.concepts.get((kind, name.lower()))

    def named(self, kind: str, name: str) -> Concept | None:
        """The concept of `kind` one of whose synonyms is the whole of `name` ("Glucophage
        XR" is metformin; "sitagliptin and metformin" is neither)."""
        key = normalise_term(name)
        found = [*self._folded.terms.get(key.lower(), []), *self._exact.terms.get(key, [])]
        return next((concept for concept, _ in found if concept.kind == kind), None)


def read_rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    """The rows of a data file; lines starting with # are comments."""
    with path.open(encoding="utf-8", newline="") as handle:
        lines = [line for line in handle if line.strip() and not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter=delimiter))


def _number(value: str) -> float | None:
    return float(value) if value.strip() else None


def _synonyms(row: dict[str, str]) -> list[str]:
    return [s.strip() for s in (row.get("synonyms") or "").split("|") if s.strip()]


def _load_file(name: str, kind: str, section: str) -> list[tuple[Concept, list[str], str]]:
    rows = read_rows(DATA_DIR / name)
    if kind == "lab":
        return _load_labs(rows, section)
    loaded = []
    for row in rows:
        code = row.get("rxnorm") or row.get("snomed") or row.get("loinc") or row.get("cvx") or None
        if kind == "vital":
            units: tuple[LabUnit, ...] = (LabUnit(row["unit"], row["loinc"] or None, None, None),)
            concept = Concept(kind, row["type"], code, units)
        else:
            concept = Concept(kind, row["name"], code)
        loaded.append((concept, _synonyms(row), section))
    return loaded


def _load_labs(rows: list[dict[str, str]], section: str) -> list[tuple[Concept, list[str], str]]:
    """Labs: rows of one test (one per unit) become one concept with several units."""
    units: dict[str, list[LabUnit]] = {}
    synonyms: dict[str, list[str]] = {}
    for row in rows:
        name = row["name"]
        low, high = _number(row["low"]), _number(row["high"])
        units.setdefault(name, []).append(LabUnit(row["unit"], row["loinc"] or None, low, high))
        synonyms.setdefault(name, []).extend(_synonyms(row))
    return [
        (Concept("lab", name, variants[0].loinc, tuple(variants)), synonyms[name], section)
        for name, variants in units.items()
    ]


@functools.cache
def default_lexicon() -> Lexicon:
    """The lexicon shipped in `data/`, loaded once per process.

    Raises OSError or KeyError when a data file is missing or malformed.
    """
    concepts: list[tuple[Concept, list[str], str]] = []
    for name, (kind, section) in KINDS.items():
        concepts += _load_file(name, kind, section)
    return Lexicon(concepts)
