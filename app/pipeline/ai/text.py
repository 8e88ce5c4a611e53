"""Reading the document text: sentences, sections and word distances.

- *Sentences* end at `.`, `!`, `?` or `;` followed by a space, except the `.` of
  a dotted abbreviation or a title ("p.o. once daily", "Dr. Patel"), and at a
  line break unless the line runs on: wrapped prose, where the line ends without
  `.!?;:` and the next line (on the same page) starts in lower case or with a
  digit, or the line ends with a comma, or the line is full (it reaches 85% of the
  width of the page's widest line and has eight words or more).
- *Sections* start at a header from `data/sections.csv` at the start of a line,
  alone or followed by a colon or a dash ("Allergies: penicillin"), or followed by
  up to three more words and a colon ("Allergies & sensitivities:"), or joined to
  another heading ("Allergies / Adverse Reactions"), or as the first column of a
  table's header row ("Vaccine      Dose 1      Dose 2"). Any other heading
  ("ENCOUNTERS:", a rule of dashes) ends a section. A list section whose items start
  on the heading's own line ("Allergies: penicillin") ends with that paragraph. A section lasts
  until the next header or a paragraph gap (a vertical gap between two lines of
  more than 1.8 times the page's usual line spacing), so a list of past history
  does not colour the letter's prose below it. A list section (`LIST_SECTIONS`)
  also ends at a line of prose that does not run on from the line before: five
  words or more starting with a pronoun, an article or the like ("She ...",
  "The ...", "If ...", "Return ..."), which a list item does not.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import statistics
from dataclasses import dataclass

from app.pipeline.ai.lexicon import DATA_DIR, normalise_term, read_rows, term_regex
from app.pipeline.layout import DocumentText, TextLine

_SENTENCE_END = re.compile(r"(?<!\s)[.!?;](?=\s)")  # not a speck: "Sodium . 139"
# Words whose final "." is no sentence end: dotted abbreviations ("p.o.", "e.g.", an
# initial "A.") and titles ("Dr.").
_ABBREVIATION = re.compile(r"(?:^|[\s(])(?:(?:[A-Za-z]\.)+|(?i:dr|mr|mrs|ms|st|approx|vs|ref)\.)$")
FULL_LINE = 0.85  # a line reaching this share of the page's widest line was wrapped
FULL_LINE_WORDS = 8
_BULLET = r"(?:[-\u2022*\u2013]\s*|\d{1,2}[.)]\s+)?"
PARAGRAPH_GAP = 1.8
LIST_SECTIONS = frozenset(
    {
        "medications",
        "discharge_medications",
        "stopped_medications",
        "allergies",
        "past_medical_history",
        "family_history",
        "procedures",
        "past_surgical_history",
        "immunizations",
        "diagnosis",
    }
)
_PROSE = re.compile(
    r"(?:He|She|They|The|This|That|These|His|Her|Their|Patient|Mr|Mrs|Ms|Miss|We|I|It|There"
    r"|If|Return|Please|Advised|Seen|Reviewed|Today|Following|Overall|In|On|At|After|Since)"
    r"(?:\s+\S+){4,}"
)


@dataclass(frozen=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True)
class Section:
    start: int
    end: int
    name: str
    header_end: int  # where the header (and its colon) ends


@functools.cache
def _section_headers() -> tuple[re.Pattern[str], dict[str, str]]:
    rows = read_rows(DATA_DIR / "sections.csv")
    names = {normalise_term(row["header"]).lower(): row["section"] for row in rows}
    body = "|".join(term_regex(h) for h in sorted(names, key=lambda h: (-len(h), h)))
    pattern = re.compile(
        rf"\s*{_BULLET}(?P<header>{body})(?:\s*(?::|\s-\s|-\s|$)|(?:\s+[&\w/-]+){{1,3}}\s*:"
        r"|\s*(?:/|&|\band\b)\s*[\w ]{2,30}(?::|$)|\s{2,}\S.*$"
        r"|(?:\s+(?:dose|doses|date|dates|given|route|frequency|reaction|reactions|severity"
        r"|status|type|comments?|notes?|lot|site|strength|details|\d{1,2}))+\s*$)",
        re.IGNORECASE,
    )
    return pattern, names


class Analysis:
    """Sentences, sections and word positions of one document text."""

    def __init__(self, doc: DocumentText) -> None:
        self.text = doc.text
        self.lines = doc.lines or _plain_lines(doc.text)
        self.sentences = sentences(self.text, self.lines)
        self._sentence_starts = [s.start for s in self.sentences]
        self.sections = sections(self.text, self.lines)
        self._section_starts = [s.start for s in self.sections]
        self._words = [m.start() for m in re.finditer(r"\S+", self.text)]

    def sentence_at(self, position: int) -> Span:
        index = bisect.bisect_right(self._sentence_starts, position) - 1
        if index >= 0 and self.sentences[index].end >= position:
            return self.sentences[index]
        return Span(position, position)

    def section_at(self, position: int) -> Section | None:
        index = bisect.bisect_right(self._section_starts, position) - 1
        if index >= 0 and self.sections[index].start <= position < self.sections[index].end:
            return self.sections[index]
        return None

    def section_name(self, position: int) -> str | None:
        section = self.section_at(position)
        return section.name if section else None

    def words_between(self, start: int, end: int) -> int:
        """How many words start in [start, end)."""
        return bisect.bisect_left(self._words, end) - bisect.bisect_left(self._words, start)

    def line_at(self, position: int) -> Span:
        start = self.text.rfind("\n", 0, position) + 1
        end = self.text.find("\n", position)
        return Span(start, len(self.text) if end < 0 else end)


def _plain_lines(text: str) -> tuple[TextLine, ...]:
    """Lines of a text that came without a layout: one page, evenly spaced."""
    lines, offset = [], 0
    for number, line in enumerate(text.split("\n")):
        y = number * 0.015
        box = (0.0, y, min(1.0, len(line) / 100), y + 0.01)
        lines.append(TextLine(1, number, offset, offset + len(line), y, box))
        offset += len(line) + 1
    return tuple(lines)


def _runs_on(text: str, line: TextLine, following: TextLine, widest: float = 1.0) -> bool:
    """Whether `line` wraps into `following` (same sentence) rather than ending."""
    if following.page != line.page or line.end <= line.start:
        return False
    last = text[line.end - 1]
    first = text[following.start : following.start + 1]
    if last in ".!?;:":
        return False
    if first.islower() or first.isdigit() or last == ",":
        return True
    full = line.box[2] >= FULL_LINE * widest
    return full and len(text[line.start : line.end].split()) >= FULL_LINE_WORDS


def _widest(lines: tuple[TextLine, ...]) -> dict[int, float]:
    """The right edge of the widest line of each page."""
    widest: dict[int, float] = {}
    for line in lines:
        widest[line.page] = max(widest.get(line.page, 0.0), line.box[2])
    return widest


def sentences(text: str, lines: tuple[TextLine, ...]) -> list[Span]:
    """Sentence spans in text order; see the module docstring for the rules."""
    spans: list[Span] = []
    start: int | None = None
    widest = _widest(lines)
    for index, line in enumerate(lines):
        if start is None:
            start = line.start
        for match in _SENTENCE_END.finditer(text, line.start, line.end):
            if _ABBREVIATION.search(text, max(line.start, match.start() - 12), match.end()):
                continue
            spans.append(Span(start, match.end()))
            start = match.end()
        following = lines[index + 1] if index + 1 < len(lines) else None
        if following is None or not _runs_on(text, line, following, widest[line.page]):
            spans.append(Span(start, line.end))
            start = None
    return [span for span in spans if text[span.start : span.end].strip()]


def _gaps(lines: tuple[TextLine, ...]) -> set[int]:
    """Indexes of lines that start a new paragraph (a wide vertical gap above them)."""
    by_page: dict[int, list[int]] = {}
    for index, line in enumerate(lines):
        by_page.setdefault(line.page, []).append(index)
    starts: set[int] = set()
    for indexes in by_page.values():
        pairs = list(itertools.pairwise(indexes))
        steps = [lines[b].y - lines[a].y for a, b in pairs if lines[b].y > lines[a].y]
        if not steps:
            continue
        usual = statistics.median(steps)
        for a, b in pairs:
            if lines[b].y - lines[a].y > PARAGRAPH_GAP * usual:
                starts.add(b)
    return starts


# A heading this project does not name still ends the section above it: a capitalised
# label and a colon ("ENCOUNTERS:", "REVIEW OF SYSTEMS: ..."), a short label alone on its
# line ("Social circumstances:"), or a rule of dashes or equals signs.
_OTHER_HEADER = re.compile(
    r"\s*(?:[A-Z][A-Z/&()\-]{3,}(?: [A-Z/&()\-]+){0,5}\s*:"
    r"|[A-Z][\w/&()\-]*(?: [\w/&()\-]+){0,3}\s*:\s*$"
    r"|[-=_*]{5,}\s*$)"
)


def _other_header(text: str, line: TextLine) -> bool:
    return _OTHER_HEADER.match(text, line.start, line.end) is not None


def sections(text: str, lines: tuple[TextLine, ...]) -> list[Section]:
    """Section spans in text order; text outside every span belongs to no section."""
    pattern, names = _section_headers()
    gaps = _gaps(lines)
    widest = _widest(lines)
    found: list[Section] = []
    current: tuple[int, str, int] | None = None
    inline = False
    for index, line in enumerate(lines):
        match = pattern.match(text, line.start, line.end)
        ends = match is not None or index in gaps or _other_header(text, line)
        if current is not None and not ends and current[1] in LIST_SECTIONS and index:
            runs_on = _runs_on(text, lines[index - 1], line, widest[line.page])
            prose = _PROSE.match(text, line.start, line.end)
            ends = (bool(prose) or inline) and not runs_on
        if ends and current is not None:
            found.append(Section(current[0], lines[index - 1].end, current[1], current[2]))
            current = None
        if match:
            name = names[normalise_term(match.group("header")).lower()]
            current = (line.start, name, match.end())
            # "Allergies: penicillin (rash)": a list written after its heading ends with
            # its paragraph, not at the next heading
            inline = bool(text[match.end() : line.end].strip(" \t:-\u2013"))
    if current is not None and lines:
        found.append(Section(current[0], lines[-1].end, current[1], current[2]))
    return [_clipped(text, section) for section in found]


_LIST_END = re.compile(r"[.!?](?=\s|$)")


def _clipped(text: str, section: Section) -> Section:
    """A list written on its heading's line ends with its first sentence: "Allergies: NKA.
    Peanut introduced at 6 months" lists no peanut allergy."""
    line_end = text.find("\n", section.header_end, section.end)
    if section.name not in LIST_SECTIONS or not text[section.header_end : line_end].strip():
        return section
    for match in _LIST_END.finditer(text, section.header_end, section.end):
        if _ABBREVIATION.search(text, max(section.header_end, match.start() - 12), match.end()):
            continue
        return Section(section.start, match.end(), section.name, section.header_end)
    return section
