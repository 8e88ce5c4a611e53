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
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from app.pipeline.ai.context import Context, ContextRules, span_text_is_header
from app.pipeline.ai.grammar import lab_value, parse_sig, vital_reading
from app.pipeline.ai.lexicon import Concept, Hit, Lexicon
from app.pipeline.ai.text import Analysis
from app.pipeline.ai.types import Entity
from app.pipeline.layout import Box, DocumentText

ENTITY_TYPE = {
    "medication": "medication",
    "lab": "lab_result",
    "vital": "vital_sign",
    "condition": "condition",
    "observation": "observation",
    "physical_finding": "physical_finding",
    "vaccine": "immunization",
    "procedure": "procedure",
    "allergen": "allergy",
}
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
_REACTION = re.compile(
    r"\s*(?:\(|[-\u2013:]|(?i:,?\s*(?:which|that)\s+)?(?i:causes?|causing|caused|gives?|gave"
    r"|giving|leading\s+to|reaction:?))\s*(?:(?i:him|her|them)\s+)?"
    r"(?:(?i:an?)\s+)?(?P<reaction>[A-Za-z][A-Za-z '/-]*[A-Za-z])\s*\)?"
)


# A condition or symptom naming a service is not the patient's ("Asthma nurse", "Heart
# failure clinic", "Chest pain team").
_SERVICE = re.compile(
    r"\s+(?i:specialist\s+)?(?i:nurses?|clinic|team|service|unit|consultant|department|"
    r"specialist|pathway|programme)\b"
)
NAMED_THINGS = frozenset({"condition", "observation", "physical_finding"})


@dataclass(frozen=True)
class Candidate:
    start: int
    end: int
    type: str
    confidence: float
    specific: bool = False  # a synonym that only counts in its own section


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
        low = bisect.bisect_right(self._ends, start)
        scores = []
        for word in self._words[low:]:
            if word.start >= end:
                break
            scores.append(word.confidence)
        return sum(scores) / len(scores) / 100 if scores else 1.0


def detect(doc: DocumentText, lexicon: Lexicon, rules: ContextRules | None = None) -> list[Entity]:
    """The entities of `doc`, in text order, with ids "e1", "e2", ...

    Never raises on any text; an empty text gives no entities.
    """
    analysis = Analysis(doc)
    context = Context(analysis, rules)
    candidates = [
        candidate
        for hit in lexicon.scan(doc.text)
        if (candidate := _candidate(hit, analysis, context)) is not None
    ]
    candidates += _no_allergies(analysis)
    build = _Builder(doc, analysis, context)
    return [
        build(f"e{number}", candidate)
        for number, candidate in enumerate(resolve(candidates), start=1)
    ]


def resolve(candidates: list[Candidate]) -> list[Candidate]:
    """Non-overlapping candidates, longest first, then by PRIORITY; in text order."""
    ranked = sorted(
        candidates,
        key=lambda c: (-(c.end - c.start), not c.specific, PRIORITY.index(c.type), c.start),
    )
    kept: list[Candidate] = []
    for candidate in ranked:
        if all(candidate.end <= k.start or candidate.start >= k.end for k in kept):
            kept.append(candidate)
    return sorted(kept, key=lambda c: (c.start, c.end))


def _base_confidence(hit: Hit, text: str) -> float:
    surface = text[hit.start : hit.end]
    return 0.8 if len(surface) <= 3 and surface.isupper() else 0.9


def _candidate(hit: Hit, analysis: Analysis, context: Context) -> Candidate | None:
    """The candidate a lexicon hit makes, or None when the rules say it is not a mention."""
    if hit.section_only is not None and analysis.section_name(hit.start) != hit.section_only:
        return None
    if span_text_is_header(analysis, hit.start):
        return None
    kind, base = hit.concept.kind, _base_confidence(hit, analysis.text)
    if kind in ("medication", "allergen"):
        return _medicine(hit, analysis, context, base)
    if kind in ("lab", "vital"):
        limit = analysis.sentence_at(hit.start).end
        end = _measured_end(hit.concept, analysis.text, hit.end, limit)
        return None if end is None else Candidate(hit.start, end, ENTITY_TYPE[kind], base + 0.05)
    if ENTITY_TYPE[kind] in NAMED_THINGS and _SERVICE.match(analysis.text, hit.end):
        return None
    specific = hit.section_only is not None
    return Candidate(hit.start, hit.end, ENTITY_TYPE[kind], base, specific=specific)


def _medicine(hit: Hit, analysis: Analysis, context: Context, base: float) -> Candidate | None:
    """A medicine or allergen: an allergy in an allergy context, else a medicine (or nothing)."""
    limit = analysis.sentence_at(hit.start).end
    if "allergy" in context.categories(hit.start, hit.end):
        return _allergy(hit, analysis.text, limit, base)
    if hit.concept.kind == "allergen":
        return None
    sig = parse_sig(analysis.text, hit.end, limit)
    found = sig.strength is not None or sig.frequency is not None
    return Candidate(hit.start, sig.end, "medication", base + 0.05 * found)


def _measured_end(concept: Concept, text: str, position: int, limit: int) -> int | None:
    if concept.kind == "lab":
        result = lab_value(text, position, limit)
        return result.end if result else None
    reading = vital_reading(concept.name, text, position, limit)
    return reading.end if reading else None


def _allergy(hit: Hit, text: str, limit: int, base: float) -> Candidate:
    reaction = _REACTION.match(text, hit.end, limit)
    end = reaction.end() if reaction else hit.end
    while end > hit.end and text[end - 1].isspace():
        end -= 1
    return Candidate(hit.start, end, "allergy", base)


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
        confidence = candidate.confidence * (0.5 + 0.5 * self.locator.confidence(start, end))
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
