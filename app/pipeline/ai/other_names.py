"""Other names of one mention in Pass 1: a medicine with its other name in brackets, a
combination product (`join_other_names`), and each use of a short form the document
defines for a mention (`abbreviated`)."""

from __future__ import annotations

import dataclasses
import itertools
import re

from app.pipeline.ai.candidates import Candidate
from app.pipeline.ai.doses import parse_sig

_OTHER_NAME = re.compile(r"\s*\(([^()\n]{2,60})\)")


def join_other_names(candidates: list[Candidate], text: str) -> list[Candidate]:
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


def abbreviated(candidates: list[Candidate], text: str) -> list[Candidate]:
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
