"""Names of tests and vital signs that OCR misread, found where the exact scan found none.

OCR confuses glyphs that look alike. `fold(text)` maps each family to one letter
(1 l I i | ! as "l"; 0 O o as "o"; 5 S as "s"; 2 Z as "z"; 8 B as "b"; 9 g q
as "g"; e c as "c"; "rn" as "m", "cl" as "d", "vv" as "w"), drops case, spaces
and punctuation and squeezes a run of "l" into one ("li" for "1" in "HbAlic"), so
"HbAlc", "HbAlic" and "Hb A1c" all fold to the key of "HbA1c", "Sp02" to that
of "SpO2" and "Creatinlne" to that of "creatinine".

A span of one to four words is a name when its key is a name's key, or, failing
that, when it is within `max_distance` edits of exactly one concept's key (names
of five folded characters and more only: "HbAtc" for "HbA1c"). Only spans that a
number follows on the same line are looked at, and only names of labs and vital
signs, whose mentions count only with a result after them (detect checks it), so
precision holds. Names are indexed by key and by key length, so a page costs a
dictionary look-up per span and a Levenshtein distance (rapidfuzz) only against
names of about the span's length.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from app.pipeline.ai.lexicon import DATA_DIR, KINDS, Concept, Hit, Lexicon, read_rows

FUZZY_KINDS = ("lab", "vital")
MAX_WORDS = 4  # the longest name, in words ("estimated glomerular filtration rate")
MIN_KEY = 3  # shorter names ("K", "Hb", "BP") are left to the exact scan
_RUNS = (("rn", "m"), ("cl", "d"), ("vv", "w"))
_FOLD = str.maketrans(
    {**dict.fromkeys("1i|!", "l"), "0": "o", "5": "s", "2": "z", "8": "b", "9": "g", "q": "g"}
    | {"e": "c"}
)
_WORD = re.compile(r"\S+")
_NUMBER = re.compile(r"[<>~(\[=:-]*\d")


def fold(text: str) -> str:
    """The confusion-folded key of `text` (see the module docstring)."""
    key = text.lower()
    for run, letter in _RUNS:
        key = key.replace(run, letter)
    key = re.sub(r"[^a-z0-9|!]", "", key).translate(_FOLD)
    return re.sub(r"l{2,}", "l", key)


def max_distance(key: str) -> int:
    """Edits allowed between a misread name and the name: none below 5 characters."""
    return 0 if len(key) < 5 else 1 if len(key) < 9 else 2


@dataclass(frozen=True)
class NameMatch:
    concept: Concept
    start: int
    end: int
    distance: int  # edits beyond folding; 0 for a folded-key match
    section_only: str | None = None


class NameMatcher:
    """Lab and vital-sign names of a lexicon, by folded key and by key length."""

    def __init__(self, lexicon: Lexicon) -> None:
        self._keys: dict[str, list[tuple[Concept, str | None]]] = {}
        for concept, synonym, section_only in _names(lexicon):
            key = fold(synonym)
            if len(key) >= MIN_KEY:
                entries = self._keys.setdefault(key, [])
                if all(existing is not concept for existing, _ in entries):
                    entries.append((concept, section_only))
        self._by_length: dict[int, list[str]] = {}
        for key in self._keys:
            if max_distance(key):
                self._by_length.setdefault(len(key), []).append(key)

    def hits(self, text: str, exact: list[Hit]) -> list[Hit]:
        """Names in `text` the exact scan (`exact`) did not find, each followed by a number."""
        covered = [(hit.start, hit.end) for hit in exact]
        named = {position for hit in exact for position in range(hit.start, hit.end)}
        found: list[Hit] = []
        for line_start, line in _lines(text):
            words = [(m.start() + line_start, m.end() + line_start) for m in _WORD.finditer(line)]
            numbers = [j for j, (start, _) in enumerate(words) if _NUMBER.match(text, start)]
            # only words with a number after them on their line can name a result
            for index in range(numbers[-1] if numbers else 0):
                if words[index][0] in named:
                    continue  # the exact scan named it already
                match = self._at(text, words, index, covered)
                if match is not None:
                    hit = Hit(match.start, match.end, match.concept, match.section_only, "fuzzy")
                    found.append(hit)
        return found

    def match(self, text: str, kind: str) -> NameMatch | None:
        """The name of `kind` that `text` starts with (its first one to four words), if any."""
        line = text.split("\n", 1)[0]
        words = [(m.start(), m.end()) for m in _WORD.finditer(line)]
        return self._best(text, words, 0, kinds=(kind,))

    def _at(
        self, text: str, words: list[tuple[int, int]], index: int, covered: list[tuple[int, int]]
    ) -> NameMatch | None:
        match = self._best(text, words, index, kinds=FUZZY_KINDS)
        if match is None or any(s <= match.start and match.end <= e for s, e in covered):
            return None
        return match

    def _best(
        self, text: str, words: list[tuple[int, int]], index: int, kinds: tuple[str, ...]
    ) -> NameMatch | None:
        """The closest name of `kinds` made of words[index:index+n]; longest on a tie."""
        best: NameMatch | None = None
        for count in range(1, MAX_WORDS + 1):
            if index + count > len(words) or _NUMBER.match(text, words[index + count - 1][0]):
                break
            start, end = _trimmed(text, words[index][0], words[index + count - 1][1])
            if start >= end:
                break
            found = self._lookup(fold(text[start:end]), kinds)
            if found is None:
                continue
            (concept, section_only), distance = found
            if best is None or distance <= best.distance:
                best = NameMatch(concept, start, end, distance, section_only)
        return best

    def _lookup(
        self, key: str, kinds: tuple[str, ...]
    ) -> tuple[tuple[Concept, str | None], int] | None:
        if len(key) < MIN_KEY:
            return None
        exact = [entry for entry in self._keys.get(key, []) if entry[0].kind in kinds]
        if exact:
            return exact[0], 0
        limit = max_distance(key)
        if not limit:
            return None
        close: list[tuple[str, int]] = []
        for length in range(len(key) - limit, len(key) + limit + 1):
            choices = self._by_length.get(length)
            if choices:
                close += [
                    (name, score)
                    for name, score, _ in process.extract(
                        key, choices, scorer=Levenshtein.distance, score_cutoff=limit, limit=None
                    )
                    if score <= max_distance(name)
                ]
        entries = [
            (entry, score)
            for name, score in close
            for entry in self._keys[name]
            if entry[0].kind in kinds
        ]
        if not entries:
            return None
        nearest = min(score for _, score in entries)
        concepts = {id(entry[0]) for entry, score in entries if score == nearest}
        if len(concepts) > 1:  # as near to two tests: no reading
            return None
        return next(entry for entry, score in entries if score == nearest), nearest


def _names(lexicon: Lexicon) -> Iterator[tuple[Concept, str, str | None]]:
    """Every synonym of the lexicon's labs and vital signs, with the section it needs."""
    for file_name, (kind, section) in KINDS.items():
        if kind not in FUZZY_KINDS:
            continue
        for row in read_rows(DATA_DIR / file_name):
            name = row.get("name") or row.get("type") or ""
            concept = lexicon.get(kind, name)
            if concept is None:
                continue
            synonyms = [s.strip() for s in (row.get("synonyms") or "").split("|") if s.strip()]
            for synonym in [name, *synonyms]:
                section_only = section if synonym.startswith("@") else None
                yield concept, synonym.lstrip("@^"), section_only


def _lines(text: str) -> Iterator[tuple[int, str]]:
    offset = 0
    for line in text.split("\n"):
        yield offset, line
        offset += len(line) + 1


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without the punctuation OCR left at its edges ("~HbAtc", "Triglycerides.")."""
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return start, end


@functools.lru_cache(maxsize=4)
def name_matcher(lexicon: Lexicon) -> NameMatcher:
    """The matcher of `lexicon`, built once per lexicon."""
    return NameMatcher(lexicon)
