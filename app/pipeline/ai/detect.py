"""Pass 1 of the local provider: clinical mentions found by lexicon and rules.

1. The lexicon finds every known name (medicines, tests, vital signs, conditions,
   symptoms, findings, allergens, vaccines, procedures).
2. Each name is checked and extended by what follows it: a condition or symptom
   followed by "nurse", "clinic", "team" names a service, not a mention; a test counts only with
   a result after it ("Potassium 5.9 mmol/L H") and a vital sign only with a
   reading; a medicine takes in its dose and frequency ("Metformin 500 mg twice
   daily"); a medicine or allergen in an allergy context (an "Allergies" section,
   "allergic to ...") is an allergy, with its reaction ("Penicillin - rash"); an
   allergen anywhere else is not a mention.
3. Overlapping candidates are resolved longest first ("type 2 diabetes" over
   "diabetes", "influenza vaccine" over "influenza").
4. Context (negation, history, family, hypothetical) comes from `context.py`;
   results and readings are measurements and take no context flags.

Confidence is a rule's certainty (0.9, 0.95 when values were read, 0.8 for a short
case-sensitive abbreviation) scaled by the OCR confidence of the span's words.

Step 2 is in `name_rules.py`, a mention's other names (brackets, combinations, short
forms) in `other_names.py`, step 3 in `candidates.py`; this module adds what the form
of words and lists under headings name, and builds the entities.
"""

from __future__ import annotations

import bisect
import re

from app.pipeline.ai.candidates import FOUND_CONFIDENCE, Candidate, Placed, resolve
from app.pipeline.ai.context import Context, ContextRules
from app.pipeline.ai.doses import parse_sig
from app.pipeline.ai.fuzzy_names import name_matcher
from app.pipeline.ai.lexicon import Lexicon
from app.pipeline.ai.name_rules import candidate_of, vocabulary_hits
from app.pipeline.ai.other_names import abbreviated, join_other_names
from app.pipeline.ai.structure import Item, allergies, items, patterns, results
from app.pipeline.ai.text import Analysis
from app.pipeline.ai.types import Entity
from app.pipeline.ai.vocabulary import Vocabulary
from app.pipeline.geometry import Box
from app.pipeline.layout import DocumentText

LISTED = frozenset({"medication", "condition", "procedure", "immunization", "allergy"})
MEASURED = frozenset({"lab_result", "vital_sign"})
FLAG_CATEGORIES = {
    "negated": ("negation",),
    "historical": ("history", "resolved"),
    "family": ("family",),
    "hypothetical": ("hypothetical",),
}
_NO_ALLERGY = re.compile(
    r"(?<![\w-])(?:NKDA|NKA|(?i:no\s+known\s+(?:drug\s+)?allerg(?:y|ies)|none\s+known|nil\s+known))"
    r"(?!\w)"
)


class Locator:
    """Pages and boxes of spans, by `DocumentText.locate` over the words near the span."""

    def __init__(self, doc: DocumentText) -> None:
        self._words = doc.words
        self._ends = [word.end for word in doc.words]

    def locate(self, start: int, end: int) -> tuple[int, Box] | None:
        low = bisect.bisect_right(self._ends, start)
        high = low
        while high < len(self._words) and self._words[high].start < end:
            high += 1
        window = DocumentText("", (), self._words[low:high])
        return window.locate(start, end)

    def confidence(self, start: int, end: int) -> float:
        """Mean OCR confidence (0-1) of the words in the span; 1 when there are none."""
        found = self.word_confidence(start, end)
        return 1.0 if found is None else found

    def word_confidence(self, start: int, end: int) -> float | None:
        """Mean OCR confidence (0-1) of the words in the span; None when there are none."""
        low = bisect.bisect_right(self._ends, start)
        scores = []
        for word in self._words[low:]:
            if word.start >= end:
                break
            scores.append(word.confidence)
        return sum(scores) / len(scores) / 100 if scores else None


def detect(
    doc: DocumentText,
    lexicon: Lexicon,
    rules: ContextRules | None = None,
    vocabulary: Vocabulary | None = None,
) -> list[Entity]:
    """The entities of `doc`, in text order, with ids "e1", "e2", ...

    Names come from the curated lexicon and, when given, the large `vocabulary`; then
    the form of words (`structure.patterns`) and the lists under headings
    (`structure.items`) add what no vocabulary names. Never raises on any text; an
    empty text gives no entities.
    """
    analysis = Analysis(doc)
    context = Context(analysis, rules)
    hits = lexicon.scan(doc.text)
    hits += name_matcher(lexicon).hits(doc.text, hits)  # names OCR misread ("HbAtc 63")
    if vocabulary is not None:
        hits += vocabulary_hits(doc.text, vocabulary)
    candidates = [
        candidate for hit in hits if (candidate := candidate_of(hit, analysis, context)) is not None
    ]
    candidates = join_other_names(candidates, analysis.text)
    candidates += abbreviated(candidates, analysis.text)
    candidates += _no_allergies(analysis)
    candidates += _structural(analysis, candidates)
    build = _Builder(doc, analysis, context)
    return [
        build(f"e{number}", candidate)
        for number, candidate in enumerate(resolve(candidates), start=1)
    ]


def _structural(analysis: Analysis, found: list[Candidate]) -> list[Candidate]:
    """Candidates from the form of words and from list items that no name accounts for.

    A pattern counts where no candidate of its type overlaps it. A list item counts where
    no candidate of its type overlaps it (under a problem or history heading: no candidate
    of any listed type, since such lists hold operations too); an item whose semantic tag
    names its type counts always, and being longer wins over the names inside it.
    """
    placed = Placed(found)
    added: list[Candidate] = []
    for item in (*patterns(analysis.text), *allergies(analysis.text), *results(analysis.text)):
        if not placed.overlaps(item.start, item.end, {item.type}):
            added.append(_from_item(item, "pattern", analysis))
            placed.add(added[-1])
    for item in items(analysis):
        wanted = LISTED if item.type == "condition" else {item.type}
        # a line of a list is one thing: "Td (adult), 2 Lf tetanus toxoid, ..." is one
        # vaccine, not "Td" and "tetanus toxoid"; unless a name of another type is in it
        whole = (
            item.whole_line
            and not placed.overlaps(item.start, item.end, LISTED - {item.type})
            and not _names_each_piece(analysis.text, item, placed)
        )
        if item.tagged or whole or not placed.overlaps(item.start, item.end, wanted):
            added.append(_from_item(item, "section", analysis))
            placed.add(added[-1])
    return added


def _from_item(item: Item, found_by: str, analysis: Analysis) -> Candidate:
    """A candidate for a pattern or list item; a medicine takes in its dose and frequency."""
    confidence = FOUND_CONFIDENCE["tagged" if item.tagged else found_by]
    end = item.end
    if item.type == "medication":
        limit = analysis.sentence_at(item.start).end
        end = max(end, parse_sig(analysis.text, item.end, max(limit, item.end)).end)
    return Candidate(item.start, end, item.type, confidence, found_by=found_by)


# The pieces of a list's line: between commas, semicolons, sentence ends and "and".
_PIECE = re.compile(r"(?:(?!,|;|\.\s|\s(?:and|&)\s).)+", re.DOTALL)


def _names_each_piece(text: str, item: Item, placed: Placed) -> bool:
    """Whether a line lists several things: more than half its pieces (`_PIECE`) hold a
    name of the item's type ("Hep B x3, DTaP x3, IPV x3, RV x3"), where one name
    with its qualifiers has pieces that name nothing ("Td (adult), 2 Lf tetanus toxoid,
    preservative free, adsorbed")."""
    pieces = [m for m in _PIECE.finditer(text, item.start, item.end) if m.group().strip()]
    named = sum(placed.overlaps(m.start(), m.end(), {item.type}) for m in pieces)
    return named >= 2 and named * 2 > len(pieces)


def _no_allergies(analysis: Analysis) -> list[Candidate]:
    """ "NKDA", "No known allergies"; "None known" only under an Allergies header."""
    found = []
    for match in _NO_ALLERGY.finditer(analysis.text):
        listed = analysis.section_name(match.start()) == "allergies"
        if match.group().lower().startswith(("none", "nil")) and not listed:
            continue
        found.append(Candidate(match.start(), match.end(), "allergy", 0.9))
    return found


class _Builder:
    """Turns candidates into entities: text, flags, section, page, box, confidence."""

    def __init__(self, doc: DocumentText, analysis: Analysis, context: Context) -> None:
        self.doc, self.analysis, self.context = doc, analysis, context
        self.locator = Locator(doc)

    def __call__(self, entity_id: str, candidate: Candidate) -> Entity:
        start, end = candidate.start, candidate.end
        place = self.locator.locate(start, end)
        ocr = self.locator.word_confidence(start, end)
        confidence = candidate.confidence * (0.5 + 0.5 * (1.0 if ocr is None else ocr))
        return Entity(
            id=entity_id,
            type=candidate.type,
            text=self.doc.text[start:end],
            start=start,
            end=end,
            page=place[0] if place else None,
            box=place[1] if place else None,
            confidence=round(min(confidence, 1.0), 3),
            section=self.analysis.section_name(start),
            found_by=candidate.found_by,
            ocr_confidence=None if ocr is None else round(ocr, 3),
            **self._flags(candidate),
        )

    def _flags(self, candidate: Candidate) -> dict[str, bool]:
        start, end = candidate.start, candidate.end
        if candidate.type in MEASURED:
            categories: set[str] = set()
        elif _NO_ALLERGY.fullmatch(self.doc.text[start:end]):
            categories = {"negation"}
        else:
            categories = self.context.categories(start, end)
        return {
            name: any(category in categories for category in wanted)
            for name, wanted in FLAG_CATEGORIES.items()
        }
