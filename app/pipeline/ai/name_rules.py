"""Step 2 of Pass 1 (see detect.py): a name the lexicon or a vocabulary found, checked
and extended by what follows it (`candidate_of`).

A test counts only with a result after it and a vital sign only with a reading; a
medicine takes in its dose and frequency; a medicine or allergen in an allergy
context is an allergy, with its reaction. None when the rules say the name is no
mention: a service ("Asthma nurse"), a label or an instrument ("GAD-7"), a molecule
measured ("serum lithium"), an allergen outside an allergy context.
"""

from __future__ import annotations

import dataclasses
import re

from app.pipeline.ai.candidates import FOUND_CONFIDENCE, Candidate
from app.pipeline.ai.context import Context, span_text_is_header
from app.pipeline.ai.doses import parse_sig
from app.pipeline.ai.lab_values import lab_value, result_follows
from app.pipeline.ai.lexicon import Concept, Hit
from app.pipeline.ai.structure import LIST_TYPES
from app.pipeline.ai.text import Analysis
from app.pipeline.ai.vital_readings import vital_reading
from app.pipeline.ai.vocabulary import Vocabulary

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
MEDICATION_SECTIONS = frozenset(name for name, kind in LIST_TYPES.items() if kind == "medication")
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


def _base_confidence(hit: Hit, text: str) -> float:
    surface = text[hit.start : hit.end]
    base = FOUND_CONFIDENCE["vocabulary"] if hit.source == "vocabulary" else 0.9
    return base - 0.1 if len(surface) <= 3 and surface.isupper() else base


def candidate_of(hit: Hit, analysis: Analysis, context: Context) -> Candidate | None:
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
