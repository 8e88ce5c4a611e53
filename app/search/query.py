"""What a person may type into search, and the filters beside it, checked before any SQL.

The syntax is the web-search syntax PostgreSQL's `websearch_to_tsquery` reads: words,
"quoted phrases", `OR` between two terms, and `-word` to leave a word out. It is checked
here, once, for both databases, so a malformed search is refused with a plain message
(a 400) rather than tolerated on one database and an error on the other. PostgreSQL is
then given the text as typed; SQLite's FTS5 is given `fts5_match()`, a rendering in which
every term is a quoted string of its words, so no input reaches FTS5's own grammar.

The query text is patient data: nothing here logs it, and messages never repeat it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from app.pipeline.ai.types import ENTITY_TYPES, NARRATIVE_KINDS

#: The longest search accepted, in characters.
MAX_QUERY_CHARS = 400
#: The longest entity name accepted in the entity filter.
MAX_ENTITY_NAME_CHARS = 100

_TERM = re.compile(r'\s*(-?)("[^"]*"|[^\s"]+)')
_WORD = re.compile(r"\w+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class SearchRefused(ValueError):
    """A search that cannot be run as given; the message says why, in plain words, and
    never repeats what was typed."""


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]
    excluded: bool


@dataclass(frozen=True)
class SearchQuery:
    """A checked search: the text as typed, and its terms as groups joined by AND, the
    terms within a group joined by OR."""

    text: str
    groups: tuple[tuple[Term, ...], ...]

    def fts5_match(self) -> str:
        """The search as an FTS5 MATCH expression, each term a quoted phrase of its words."""
        wanted = [group for group in self.groups if not group[0].excluded]
        left_out = [group[0] for group in self.groups if group[0].excluded]
        expression = " AND ".join(
            "(" + " OR ".join(_phrase(term) for term in group) + ")" for group in wanted
        )
        if left_out:
            expression += " NOT (" + " OR ".join(_phrase(term) for term in left_out) + ")"
        return expression


def _phrase(term: Term) -> str:
    return '"' + " ".join(term.words) + '"'


@dataclass(frozen=True)
class Filters:
    """Which documents a search looks in, besides the profile's: Pass 2's kind, a date
    range (the document's own date, else the day it was uploaded) and a mention of an
    entity of a type and/or whose text contains a name."""

    kind: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    entity_type: str | None = None
    entity_name: str | None = None


def parse_query(raw: str | None) -> SearchQuery:
    """Check a search as typed; `SearchRefused` for an empty, overlong or malformed one."""
    text = (raw or "").strip()
    if not text:
        raise SearchRefused("Type something to search for.")
    if len(text) > MAX_QUERY_CHARS:
        raise SearchRefused(f"A search can be at most {MAX_QUERY_CHARS} characters long.")
    if _CONTROL.search(text):
        raise SearchRefused("The search contains characters that cannot be searched for.")
    if text.count('"') % 2:
        raise SearchRefused('A quotation mark (") is not closed.')
    groups = _groups(_terms(text))
    if all(group[0].excluded for group in groups):
        raise SearchRefused("Say what to find, not only what to leave out (-word).")
    return SearchQuery(text, tuple(groups))


def _terms(text: str) -> list[Term | None]:
    """The terms in order; None stands for an OR between two terms."""
    terms: list[Term | None] = []
    for match in _TERM.finditer(text):
        minus, body = match.groups()
        if body.upper() == "OR" and not minus:
            terms.append(None)
            continue
        words = tuple(word.lower() for word in _WORD.findall(body))
        if words:  # punctuation alone is no term, as websearch_to_tsquery reads it
            terms.append(Term(words, excluded=bool(minus)))
    if not any(term is not None for term in terms):
        raise SearchRefused("The search has no words to find.")
    return terms


def _groups(terms: list[Term | None]) -> list[tuple[Term, ...]]:
    groups: list[list[Term]] = []
    joined = False
    for index, term in enumerate(terms):
        if term is None:
            if index == 0 or index == len(terms) - 1 or terms[index + 1] is None or not groups:
                raise SearchRefused("OR needs a word on each side.")
            joined = True
            continue
        if joined:
            groups[-1].append(term)
        else:
            groups.append([term])
        joined = False
    for group in groups:
        if len(group) > 1 and any(term.excluded for term in group):
            raise SearchRefused("A word left out (-word) cannot be joined with OR.")
    return [tuple(group) for group in groups]


def parse_filters(
    *,
    kind: str | None,
    date_from: str | None,
    date_to: str | None,
    entity_type: str | None,
    entity_name: str | None,
) -> Filters:
    """Check the filters as given in a request (empty means absent); `SearchRefused`
    for an unknown kind or entity type, a malformed date or a range that ends before it
    starts."""
    kind, entity_type = kind or None, entity_type or None
    if kind is not None and kind not in NARRATIVE_KINDS:
        raise SearchRefused(f"The kind must be one of {', '.join(NARRATIVE_KINDS)}.")
    if entity_type is not None and entity_type not in ENTITY_TYPES:
        raise SearchRefused(f"The entity type must be one of {', '.join(ENTITY_TYPES)}.")
    name = (entity_name or "").strip() or None
    if name is not None and (len(name) > MAX_ENTITY_NAME_CHARS or _CONTROL.search(name)):
        raise SearchRefused(
            f"The entity name must be at most {MAX_ENTITY_NAME_CHARS} plain characters."
        )
    start, end = _date("from", date_from), _date("to", date_to)
    if start is not None and end is not None and end < start:
        raise SearchRefused("The date range ends before it starts.")
    return Filters(kind, start, end, entity_type, name)


def _date(name: str, raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else _bad_date(name)
    except ValueError:
        return _bad_date(name)


def _bad_date(name: str) -> date:
    raise SearchRefused(f"'{name}' must be a date written YYYY-MM-DD.")
