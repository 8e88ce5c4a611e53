"""A candidate mention of Pass 1 (its span, type, confidence and how it was found), and
how overlapping candidates are resolved: longest first, then by how they were found
and by type (`resolve`)."""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterable
from dataclasses import dataclass

# Which of two candidates of equal length wins, by how they were found: a curated name
# over a vocabulary name or a pattern, any name over a bare list item.
SOURCE_RANK = {"lexicon": 0, "fuzzy": 1, "vocabulary": 1, "pattern": 1, "section": 2}
# Base confidence by how a candidate was found (the curated lexicon's is in name_rules.py).
FOUND_CONFIDENCE = {"vocabulary": 0.85, "pattern": 0.8, "section": 0.75, "tagged": 0.9}
# Which of two candidates of equal length wins.
PRIORITY = (
    "allergy",
    "medication",
    "lab_result",
    "vital_sign",
    "immunization",
    "condition",
    "procedure",
    "observation",
    "physical_finding",
)


@dataclass(frozen=True)
class Candidate:
    start: int
    end: int
    type: str
    confidence: float
    specific: bool = False  # a synonym that only counts in its own section
    found_by: str = "lexicon"


def resolve(candidates: list[Candidate]) -> list[Candidate]:
    """Non-overlapping candidates, longest first, then by how they were found and by
    PRIORITY; in text order."""
    ranked = sorted(
        candidates,
        key=lambda c: (
            -(c.end - c.start),
            SOURCE_RANK.get(c.found_by, 1),
            not c.specific,
            PRIORITY.index(c.type),
            c.start,
        ),
    )
    kept = Placed()
    for candidate in ranked:
        if not kept.overlaps(candidate.start, candidate.end):
            kept.add(candidate)
    return sorted(kept.candidates, key=lambda c: (c.start, c.end))


class Placed:
    """Candidates by place, to ask which overlap a span without looking at every one."""

    def __init__(self, candidates: Iterable[Candidate] = ()) -> None:
        self.candidates: list[Candidate] = []
        self._starts: list[int] = []
        self._longest = 0
        for candidate in candidates:
            self.add(candidate)

    def add(self, candidate: Candidate) -> None:
        index = bisect.bisect_right(self._starts, candidate.start)
        self._starts.insert(index, candidate.start)
        self.candidates.insert(index, candidate)
        self._longest = max(self._longest, candidate.end - candidate.start)

    def overlaps(self, start: int, end: int, types: Collection[str] | None = None) -> bool:
        low = bisect.bisect_right(self._starts, start - self._longest)
        high = bisect.bisect_left(self._starts, end)
        return any(
            c.end > start and (types is None or c.type in types) for c in self.candidates[low:high]
        )
