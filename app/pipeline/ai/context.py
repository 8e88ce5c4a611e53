"""Context of a mention: negated, historical, about the family, hypothetical.

After NegEx and ConText: trigger phrases (`data/context.csv`) open a scope that runs
forward (to the end of the sentence), backward (to its start) or both, and a
terminator ("but", "however", "presents with", ...) closes it. A trigger reaches a
mention only within its window of words. Pseudo-triggers ("no change", "gram
negative", "not ruled out") are matched as phrases of their own, so the trigger
words inside them open nothing. Triggers match as whole phrases, longest first:
"no family history of" is one trigger (negation and family), not "no" then
"family history of".

Sections add context of their own (`SECTION_FLAGS`): everything under "Family
history" is about the family, and under "Past medical history" is historical.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass

from app.pipeline.ai.lexicon import DATA_DIR, normalise_term, read_rows, term_regex
from app.pipeline.ai.text import Analysis, Span

# How many words a trigger reaches, by direction.
FORWARD_WINDOW = 14
BACKWARD_WINDOW = 5
FAMILY_WINDOW = 8  # a relative named on either side: "her mother had a stroke"

# What may come before a sentence-initial trigger: a bullet, a header ("Plan: Should ...").
_OPENING = re.compile(r"[\s\-\u2022*]*(?:[A-Za-z][\w /&-]{0,30}:\s*)?")

SECTION_FLAGS: dict[str, frozenset[str]] = {
    "family_history": frozenset({"family"}),
    "past_medical_history": frozenset({"history"}),
    "past_surgical_history": frozenset({"history"}),
    "allergies": frozenset({"allergy"}),
}


@dataclass(frozen=True)
class Trigger:
    start: int
    end: int
    categories: frozenset[str]
    direction: str  # forward, backward, both
    initial_only: bool = False  # counts only at the start of a sentence


@dataclass(frozen=True)
class _Phrase:
    categories: frozenset[str]
    direction: str
    initial_only: bool


class ContextRules:
    """The trigger phrases, compiled into one pattern per case mode."""

    def __init__(self, rows: list[dict[str, str]]) -> None:
        folded: dict[str, _Phrase] = {}
        exact: dict[str, _Phrase] = {}
        for row in rows:
            phrase = row["phrase"]
            initial = phrase.startswith("<")
            phrase = phrase.lstrip("<")
            table = exact if phrase.startswith("^") else folded
            key = normalise_term(phrase.lstrip("^"))
            categories = frozenset(row["category"].split("+"))
            table[key if table is exact else key.lower()] = _Phrase(
                categories, row["direction"], initial
            )
        self._folded, self._exact = folded, exact
        self._folded_re = _compile(folded, re.IGNORECASE)
        self._exact_re = _compile(exact, 0)

    def triggers(self, text: str) -> list[Trigger]:
        """Every trigger and terminator in `text`, pseudo-triggers left out."""
        found: list[Trigger] = []
        for pattern, table, fold in (
            (self._folded_re, self._folded, True),
            (self._exact_re, self._exact, False),
        ):
            if pattern is None:
                continue
            for match in pattern.finditer(text):
                key = normalise_term(match.group())
                phrase = table[key.lower() if fold else key]
                if "pseudo" not in phrase.categories:
                    found.append(
                        Trigger(
                            match.start(),
                            match.end(),
                            phrase.categories,
                            phrase.direction,
                            phrase.initial_only,
                        )
                    )
        found.sort(key=lambda t: (t.start, t.end))
        return found


def _compile(table: dict[str, _Phrase], flags: int) -> re.Pattern[str] | None:
    if not table:
        return None
    body = "|".join(term_regex(p) for p in sorted(table, key=lambda p: (-len(p), p)))
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", flags)


@functools.cache
def default_rules() -> ContextRules:
    return ContextRules(read_rows(DATA_DIR / "context.csv"))


class Context:
    """The triggers of one document, and the context they give any span in it."""

    def __init__(self, analysis: Analysis, rules: ContextRules | None = None) -> None:
        self.analysis = analysis
        self.triggers = (rules or default_rules()).triggers(analysis.text)
        self._starts = [t.start for t in self.triggers]

    def categories(self, start: int, end: int) -> set[str]:
        """Categories that reach the span [start, end): negation, history, family,
        hypothetical, resolved, allergy; plus those of its section."""
        sentence = self.analysis.sentence_at(start)
        found: set[str] = set()
        in_sentence = self._in(sentence)
        terminators = [t for t in in_sentence if "terminator" in t.categories]
        for trigger in in_sentence:
            overlaps = trigger.start < end and trigger.end > start
            if overlaps or "terminator" in trigger.categories:
                continue
            if self._reaches(trigger, start, end, sentence, terminators):
                found |= trigger.categories
        section = self.analysis.section_at(start)
        if section is not None:
            found |= SECTION_FLAGS.get(section.name, frozenset())
        return found

    def _in(self, sentence: Span) -> list[Trigger]:
        low = bisect.bisect_left(self._starts, sentence.start)
        high = bisect.bisect_left(self._starts, sentence.end)
        return self.triggers[low:high]

    def _reaches(
        self, trigger: Trigger, start: int, end: int, sentence: Span, stops: list[Trigger]
    ) -> bool:
        text = self.analysis.text
        if trigger.initial_only and not _OPENING.fullmatch(text, sentence.start, trigger.start):
            return False
        family = "family" in trigger.categories and trigger.direction == "both"
        if trigger.end <= start and trigger.direction in ("forward", "both"):
            window = FAMILY_WINDOW if family else FORWARD_WINDOW
            between = (trigger.end, start)
        elif trigger.start >= end and trigger.direction in ("backward", "both"):
            window = FAMILY_WINDOW if family else BACKWARD_WINDOW
            between = (end, trigger.start)
        else:
            return False
        if any(between[0] <= t.start and t.end <= between[1] for t in stops):
            return False
        return self.analysis.words_between(*between) <= window


def span_text_is_header(analysis: Analysis, start: int) -> bool:
    """Whether `start` lies inside a section header (the words "Family history:")."""
    section = analysis.section_at(start)
    return section is not None and start < section.header_end
