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
import dataclasses
import itertools
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from app.pipeline.ai.context import Context, ContextRules, span_text_is_header
from app.pipeline.ai.doses import parse_sig
from app.pipeline.ai.fuzzy_names import name_matcher
from app.pipeline.ai.lab_values import lab_value, result_follows
from app.pipeline.ai.lexicon import Concept, Hit, Lexicon
from app.pipeline.ai.structure import LIST_TYPES, Item, allergies, items, patterns, results
from app.pipeline.ai.text import Analysis
from app.pipeline.ai.types import Entity
from app.pipeline.ai.vital_readings import vital_reading
from app.pipeline.ai.vocabulary import Vocabulary
from app.pipeline.geometry import Box
from app.pipeline.layout import DocumentText

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
# Which of two candidates of equal length wins, by how they were found: a curated name
# over a vocabulary name or a pattern, any name over a bare list item.
SOURCE_RANK = {"lexicon": 0, "fuzzy": 1, "vocabulary": 1, "pattern": 1, "section": 2}
LISTED = frozenset({"medication", "condition", "procedure", "immunization", "allergy"})
MEDICATION_SECTIONS = frozenset(name for name, kind in LIST_TYPES.items() if kind == "medication")
# Base confidence by how a candidate was found (the curated lexicon's is in _base_confidence).
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
    r"specialist|pathway|programme|educator|outpatients|risk|screening|prophylaxis|serology"
    r"|educat\w+|review)\b"
)
NAMED_THINGS = frozenset({"condition", "observation", "physical_finding"})
# A name that labels a threshold or names an instrument is no mention of the patient's:
# a range legend ("Diabetes: >6.4", "Prediabetes 5.7-6.4" ending its line), a
# questionnaire, scale or equation ("GAD-7", "Generalized anxiety disorder 7 item",
# "CKD-EPI").
_LABEL = re.compile(
    r"\s*:?\s*(?:[<>\u2264\u2265]=?\s*\d|\d+(?:\.\d+)?\s*[-\u2013]\s*\d+(?:\.\d+)?\s*%?"
    r"(?=[ \t]*[.;]?[ \t]*(?:\n|$)))"
    r"|-\d{1,2}\b"
    r"|(?:[\s-]+\d+)?[\s-]+(?i:items?|scale|score|questionnaire|screener|tool|criteria|equation"
    r"|index|EPI)\b"
)


@dataclass(frozen=True)
class Candidate:
    start: int
    end: int
    type: str
    confidence: float
    specific: bool = False  # a synonym that only counts in its own section
    found_by: str = "lexicon"


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
        candidate for hit in hits if (candidate := _candidate(hit, analysis, context)) is not None
    ]
    candidates = _join_other_names(candidates, analysis.text)
    candidates += _abbreviated(candidates, analysis.text)
    candidates += _no_allergies(analysis)
    candidates += _structural(analysis, candidates)
    build = _Builder(doc, analysis, context)
    return [
        build(f"e{number}", candidate)
        for number, candidate in enumerate(resolve(candidates), start=1)
    ]


def vocabulary_hits(text: str, vocabulary: Vocabulary) -> list[Hit]:
    """The vocabulary's names in `text` as lexicon hits (codes are MeSH or DrugBank ids)."""
    return [
        Hit(
            hit.start,
            hit.end,
            Concept(hit.term.kind, hit.term.name, hit.term.code),
            None,
            "vocabulary",
        )
        for hit in vocabulary.scan(text)
    ]


_OTHER_NAME = re.compile(r"\s*\(([^()\n]{2,60})\)")


def _join_other_names(candidates: list[Candidate], text: str) -> list[Candidate]:
    """A medicine with its other name in brackets is one mention: "Metoprolol (Betaloc)
    23.75mg daily", "Eliquis (apixaban) 5 mg". The candidate inside the brackets goes, and
    the first takes in the brackets and whatever the one inside had read after its name."""
    medicines = sorted(
        (c for c in candidates if c.type in ("medication", "immunization")), key=lambda c: c.start
    )
    dropped: set[int] = set()
    joined: dict[int, Candidate] = {}
    for first in medicines:
        brackets = _OTHER_NAME.match(text, first.end)
        if brackets is None:
            continue
        inside = [
            c
            for c in medicines
            if brackets.start(1) <= c.start < brackets.end(1) and c.type == first.type
        ]
        if not inside:
            continue
        end = max([brackets.end(), *(c.end for c in inside)])
        limit = text.find("\n", end)
        sig = parse_sig(text, end, len(text) if limit < 0 else limit)
        joined[id(first)] = dataclasses.replace(first, end=max(end, sig.end))
        dropped |= {id(c) for c in inside}
    kept = [joined.get(id(c), c) for c in candidates if id(c) not in dropped]
    return _join_combinations(kept, text)


_COMBINED = re.compile(r"[-/+]")
# RxNorm's and a pharmacy's way: each ingredient with its strength, " / " between
# ("Amoxicillin 250 MG / Clavulanate 125 MG", "hydrocortisone 1% / ketoconazole 2%").
_STRENGTH_JOINT = re.compile(r"(?i:mg|mcg|g|%|unt/ml|units?/ml|ml)\s*/\s*$")


def _join_combinations(candidates: list[Candidate], text: str) -> list[Candidate]:
    """A combination product is one medicine: "amoxicillin-clavulanate 875 mg",
    "tiotropium/olodaterol" (written without spaces; "metformin - lisinopril" is two)."""
    medicines = sorted((c for c in candidates if c.type == "medication"), key=lambda c: c.start)
    merged: dict[int, Candidate] = {}
    dropped: set[int] = set()
    for first, second in itertools.pairwise(medicines):
        head = merged.get(id(first), first)
        joint = _COMBINED.fullmatch(text, head.end, second.start) or _STRENGTH_JOINT.search(
            text, max(head.start, second.start - 12), second.start
        )
        if joint is None or text[head.end : second.start].count("\n"):
            continue
        whole = dataclasses.replace(head, end=max(head.end, second.end))
        merged[id(second)] = whole
        dropped.add(id(first))
        merged.pop(id(first), None)
    kept = [merged.get(id(c), c) for c in candidates if id(c) not in dropped]
    return kept


_DEFINITION = re.compile(r"\s*\(\s*(?P<short>[A-Za-z][A-Za-z0-9\-]{1,9}?)s?\s*\)")
ABBREVIATED = frozenset({"condition", "medication", "observation", "procedure"})


def _abbreviated(candidates: list[Candidate], text: str) -> list[Candidate]:
    """Every use of a short form the document defines for a mention ("ataxia-telangiectasia
    (A-T)", "impulse control disorders (ICDs)"): a mention of the same type. The short
    form must hold a capital letter and start with the long form's first letter."""
    forms: dict[str, str] = {}
    for candidate in candidates:
        if candidate.type not in ABBREVIATED:
            continue
        definition = _DEFINITION.match(text, candidate.end)
        short = definition.group("short") if definition else ""
        if not any(c.isupper() for c in short) or len(short) < 2:
            continue
        if short[0].lower() == text[candidate.start].lower():
            forms.setdefault(short, candidate.type)
    added: list[Candidate] = []
    for short, kind in forms.items():
        for match in re.finditer(rf"(?<![\w-]){re.escape(short)}s?(?![\w-])", text):
            taken = any(c.start < match.end() and match.start() < c.end for c in candidates)
            if not taken:
                added.append(Candidate(match.start(), match.end(), kind, 0.8, found_by="pattern"))
    return added


def _structural(analysis: Analysis, found: list[Candidate]) -> list[Candidate]:
    """Candidates from the form of words and from list items that no name accounts for.

    A pattern counts where no candidate of its type overlaps it. A list item counts where
    no candidate of its type overlaps it (under a problem or history heading: no candidate
    of any listed type, since such lists hold operations too); an item whose semantic tag
    names its type counts always, and being longer wins over the names inside it.
    """
    placed = _Placed(found)
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
    kept = _Placed()
    for candidate in ranked:
        if not kept.overlaps(candidate.start, candidate.end):
            kept.add(candidate)
    return sorted(kept.candidates, key=lambda c: (c.start, c.end))


# The pieces of a list's line: between commas, semicolons, sentence ends and "and".
_PIECE = re.compile(r"(?:(?!,|;|\.\s|\s(?:and|&)\s).)+", re.DOTALL)


def _names_each_piece(text: str, item: Item, placed: _Placed) -> bool:
    """Whether a line lists several things: more than half its pieces (`_PIECE`) hold a
    name of the item's type ("Hep B x3, DTaP x3, IPV x3, RV x3"), where one name
    with its qualifiers has pieces that name nothing ("Td (adult), 2 Lf tetanus toxoid,
    preservative free, adsorbed")."""
    pieces = [m for m in _PIECE.finditer(text, item.start, item.end) if m.group().strip()]
    named = sum(placed.overlaps(m.start(), m.end(), {item.type}) for m in pieces)
    return named >= 2 and named * 2 > len(pieces)


class _Placed:
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


def _base_confidence(hit: Hit, text: str) -> float:
    surface = text[hit.start : hit.end]
    base = FOUND_CONFIDENCE["vocabulary"] if hit.source == "vocabulary" else 0.9
    return base - 0.1 if len(surface) <= 3 and surface.isupper() else base


def _candidate(hit: Hit, analysis: Analysis, context: Context) -> Candidate | None:
    """The candidate a lexicon hit makes, or None when the rules say it is not a mention."""
    candidate = _named(hit, analysis, context)
    return None if candidate is None else dataclasses.replace(candidate, found_by=hit.source)


def _named(hit: Hit, analysis: Analysis, context: Context) -> Candidate | None:
    if hit.section_only is not None and analysis.section_name(hit.start) != hit.section_only:
        return None
    if span_text_is_header(analysis, hit.start):
        return None
    kind, base = hit.concept.kind, _base_confidence(hit, analysis.text)
    if kind in ("medication", "allergen", "chemical"):
        return _medicine(hit, analysis, context, base)
    if kind in ("lab", "vital"):
        limit = analysis.sentence_at(hit.start).end
        end = _measured_end(hit.concept, analysis.text, hit.end, limit)
        return None if end is None else Candidate(hit.start, end, ENTITY_TYPE[kind], base + 0.05)
    named_thing = ENTITY_TYPE[kind] in (*NAMED_THINGS, "procedure")
    if named_thing and (
        _SERVICE.match(analysis.text, hit.end) or _LABEL.match(analysis.text, hit.end)
    ):
        return None
    specific = hit.section_only is not None
    kind_found = ENTITY_TYPE[kind]
    if kind_found == "condition" and analysis.section_name(hit.start) == "review_of_systems":
        kind_found = "observation"  # a review of systems asks after symptoms
    return Candidate(hit.start, hit.end, kind_found, base, specific=specific)


def _medicine(hit: Hit, analysis: Analysis, context: Context, base: float) -> Candidate | None:
    """A medicine or allergen: an allergy in an allergy context, else a medicine (or nothing)."""
    limit = analysis.sentence_at(hit.start).end
    if "allergy" in context.categories(hit.start, hit.end):
        return _allergy(hit, analysis.text, limit, base)
    if hit.concept.kind == "allergen" or _measured(hit, analysis.text, limit):
        return None
    sig = parse_sig(analysis.text, hit.end, limit)
    found = sig.strength is not None or sig.frequency is not None
    if hit.concept.kind == "chemical":
        listed = analysis.section_name(hit.start) in MEDICATION_SECTIONS
        given = found or listed or sig.route or sig.dose
        if not given or "/" in (sig.strength_unit or ""):
            # "troponin I", "rheumatoid factor 48 IU/mL": a molecule named or measured
            return None
    return Candidate(hit.start, sig.end, "medication", base + 0.05 * found)


def _measured(hit: Hit, text: str, limit: int) -> bool:
    """A test of the substance, not the medicine: "serum lithium", "digoxin level",
    "Troponin I 0.03 ng/mL"."""
    return bool(
        _MEASURED_BEFORE.search(text, max(0, hit.start - 12), hit.start)
        or _MEASURED_AFTER.match(text, hit.end)
        or result_follows(text, hit.end, limit)
    )


_MEASURED_BEFORE = re.compile(r"(?i:serum|plasma|blood|random|trough|peak|urine|urinary)\s+$")
_MEASURED_AFTER = re.compile(r"\s+(?i:levels?|concentrations?|assay|titre|titer)\b")


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
