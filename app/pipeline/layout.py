"""Spatial mapping: words into lines and blocks, in reading order, with normalised boxes.

`map_page(page)` uses the words' geometry alone (a PDF's text layer has no layout
of its own, and the boxes stored for a page are all a later run has). In steps:

1. *level*: a skewed scan's words are sheared level (the skew is the median slope
   of its long lines); a *drop capital* (a tall one- or two-letter word with text
   beside it) is set aside, to join the first line of its paragraph;
2. *rows* and *fragments*: words on one baseline, split where a gap could be a
   column gutter (a narrow gutter is about three word spaces); a *speck* (a mark
   under half a word's height each way, which a noisy scan's OCR reads as a word)
   goes with the row it falls in but never decides where a row or a gutter runs;
3. *header and footer*: the first and last bands, if set apart in the top or
   bottom tenth of the page, are read first and last;
4. *sections*, a recursive XY cut (as xpdf's and pdfminer's layout analyses do, by
   their gaps): runs of bands with the gutters that run through all of them, so
   paragraph breaks that line up across two columns do not cut the columns apart.
   A gutter splits its section into columns when the rows either side do not line
   up (a side panel, an inset) or both sides are prose; where the rows line up and
   one side is short cells (a table, a form), the rows are read whole; a single
   line between two gutters (a stray mark in a table's column gap) is no column.
   Each column is read the same way, so a column may hold columns;
5. *lines* and *blocks*: fragments of one column on the same baseline join into
   a line; a vertical gap wider than a line starts a new block.

Steps 1 and 2 are in `fragments.py`, 3 and 4 in `reading_order.py` (boxes and their
arithmetic in `geometry.py`); this module lays out the lines and blocks.

Boxes are normalised to 0-1 of the page's width and height, top-left origin, so a
client can draw them over the page image at any size. `document_text` joins the
pages into the text the AI lane reads, keeping for each line its page, its
vertical position and its character offsets, so a span found in the text maps
back to a page and a box.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from app.pipeline.fragments import Fragment, deskewed, drop_capitals, make_fragments, nearest
from app.pipeline.geometry import Box, union, union_boxes, v_overlap
from app.pipeline.ocr import PageText, Word
from app.pipeline.reading_order import reading_order


@dataclass(frozen=True)
class Line:
    text: str
    box: Box  # normalised
    words: tuple[tuple[str, float, float, float, float, float], ...]  # text, box, confidence
    block: int


@dataclass(frozen=True)
class Block:
    box: Box  # normalised
    first_line: int
    last_line: int


@dataclass(frozen=True)
class PageLayout:
    number: int
    width: float
    height: float
    lines: tuple[Line, ...]
    blocks: tuple[Block, ...]
    columns: int = 1

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


@dataclass(frozen=True)
class TextLine:
    """One line of the document text: where it is in the text and on the page."""

    page: int
    line: int
    start: int
    end: int
    y: float  # normalised top of the line on its page
    box: Box


@dataclass(frozen=True)
class WordSpan:
    """One word of the document text: its characters in the text, its page and box."""

    start: int
    end: int
    page: int
    box: Box  # normalised
    confidence: float


@dataclass(frozen=True)
class DocumentText:
    text: str
    lines: tuple[TextLine, ...] = field(default_factory=tuple)
    words: tuple[WordSpan, ...] = field(default_factory=tuple)

    def locate(self, start: int, end: int) -> tuple[int, Box] | None:
        """The page and box (union of its words' boxes) of the text span [start, end)."""
        hits = [w for w in self.words if w.start < end and w.end > start]
        if not hits:
            return None
        page = hits[0].page
        return page, union_boxes([w.box for w in hits if w.page == page])


def _lines_of(fragments: list[Fragment], char_height: float) -> list[list[Word]]:
    """Fragments on the same baseline (table cells of a row) join into one line."""
    lines: list[list[Fragment]] = []
    for fragment in sorted(fragments, key=lambda f: (f.box[1] + f.box[3]) / 2):
        box = fragment.box
        for line in reversed(lines[-2:]):
            if v_overlap(nearest([f.box for f in line], box, char_height), box) >= 0.5:
                line.append(fragment)
                break
        else:
            lines.append([fragment])
    return [sorted((w for f in line for w in f.words), key=lambda w: w.x0) for line in lines]


def map_page(page: PageText) -> PageLayout:
    """Lines and blocks of one page, in reading order, boxes normalised to the page.

    The page's running header comes first and its footer last; between them, columns
    are read one after the other, and a side panel as a column of its own; a table,
    whose cells line up in rows, is read row by row.
    """
    words = [w for w in page.words if w.x1 > w.x0 or w.y1 > w.y0]
    if not words:
        return PageLayout(page.number, page.width, page.height, (), ())
    char_height = statistics.median(w.y1 - w.y0 for w in words) or 1.0
    words, originals = deskewed(words, char_height)
    words, caps = drop_capitals(words, char_height)
    runs, columns = reading_order(
        make_fragments(words, char_height), page.height or max(w.y1 for w in words), char_height
    )
    width, height = page.width or 1.0, page.height or 1.0

    def norm(box: Box) -> Box:
        return (
            max(0.0, min(1.0, round(box[0] / width, 5))),
            max(0.0, min(1.0, round(box[1] / height, 5))),
            max(0.0, min(1.0, round(box[2] / width, 5))),
            max(0.0, min(1.0, round(box[3] / height, 5))),
        )

    lines: list[Line] = []
    blocks: list[Block] = []
    for run in runs:
        previous: Box | None = None
        for found in _lines_of(run, char_height):
            line_words = [originals.get(id(w), w) for word in found for w in _with_cap(word, caps)]
            box = union(line_words)
            if previous is None or box[1] - previous[3] > 1.0 * char_height:
                blocks.append(Block(norm(box), len(lines), len(lines)))
            block = blocks[-1]
            blocks[-1] = Block(
                norm(union_boxes([_denorm(block.box, width, height), box])),
                block.first_line,
                len(lines),
            )
            lines.append(
                Line(
                    " ".join(w.text for w in line_words),
                    norm(box),
                    tuple(
                        (w.text, *norm((w.x0, w.y0, w.x1, w.y1)), round(w.confidence, 1))
                        for w in line_words
                    ),
                    len(blocks) - 1,
                )
            )
            previous = box
    return PageLayout(page.number, page.width, page.height, tuple(lines), tuple(blocks), columns)


def _with_cap(word: Word, caps: dict[int, Word]) -> tuple[Word, ...]:
    cap = caps.get(id(word))
    return (word,) if cap is None else (cap, word)


def _denorm(box: Box, width: float, height: float) -> Box:
    return (box[0] * width, box[1] * height, box[2] * width, box[3] * height)


def document_text(pages: Iterable[PageLayout]) -> DocumentText:
    """The reading-order text of the whole document, with each line's page and place."""
    parts: list[str] = []
    index: list[TextLine] = []
    spans: list[WordSpan] = []
    offset = 0
    for page in pages:
        for number, line in enumerate(page.lines):
            start = offset
            for position, (text, x0, y0, x1, y1, confidence) in enumerate(line.words):
                word_start = start + sum(len(w[0]) + 1 for w in line.words[:position])
                spans.append(
                    WordSpan(
                        word_start,
                        word_start + len(text),
                        page.number,
                        (x0, y0, x1, y1),
                        confidence,
                    )
                )
            parts.append(line.text)
            offset += len(line.text)
            index.append(TextLine(page.number, number, start, offset, line.box[1], line.box))
            parts.append("\n")
            offset += 1
        parts.append("\n")  # a blank line between pages
        offset += 1
    return DocumentText("".join(parts), tuple(index), tuple(spans))
