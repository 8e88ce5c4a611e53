"""Spatial mapping: words into lines and blocks, in reading order, with normalised boxes.

`map_page(page)` works in four steps:

1. *fragments*: words that share a baseline and sit close together;
2. *bands*: fragments that overlap vertically, top to bottom;
3. *sections*: consecutive bands that share a column gutter (so paragraph breaks
   that happen to line up across two columns do not cut the columns apart). A
   gutter splits a section into columns only when both sides hold running text
   (lines of several words); a table's narrow cells are read row by row instead;
4. *lines* and *blocks*: fragments of one column on the same baseline join into
   a line; a vertical gap wider than a line starts a new block.

Boxes are normalised to 0-1 of the page's width and height, top-left origin, so a
client can draw them over the page image at any size. `document_text` joins the
pages into the text the AI lane reads, keeping for each line its page, its
vertical position and its character offsets, so a span found in the text maps
back to a page and a box.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from app.pipeline.ocr import PageText, Word

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


@dataclass
class Fragment:
    words: list[Word]

    @property
    def box(self) -> Box:
        return _union(self.words)

    @property
    def height(self) -> float:
        _, y0, _, y1 = self.box
        return y1 - y0


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
        return page, _union_boxes([w.box for w in hits if w.page == page])


def _union(words: Iterable[Word]) -> Box:
    items = list(words)
    return (
        min(w.x0 for w in items),
        min(w.y0 for w in items),
        max(w.x1 for w in items),
        max(w.y1 for w in items),
    )


def _union_boxes(boxes: Iterable[Box]) -> Box:
    items = list(boxes)
    return (
        min(b[0] for b in items),
        min(b[1] for b in items),
        max(b[2] for b in items),
        max(b[3] for b in items),
    )


def _v_overlap(a: Box, b: Box) -> float:
    """How much two boxes overlap vertically, as a share of the shorter one."""
    overlap = min(a[3], b[3]) - max(a[1], b[1])
    shorter = max(min(a[3] - a[1], b[3] - b[1]), 1e-9)
    return overlap / shorter


def make_fragments(words: Sequence[Word], char_height: float) -> list[Fragment]:
    """Words on one baseline, split where the gap between them is wider than ~2 characters."""
    rows: list[tuple[Box, list[Word]]] = []
    for word in sorted(words, key=lambda w: (w.y0 + w.y1) / 2):
        box = (word.x0, word.y0, word.x1, word.y1)
        for index in range(len(rows) - 1, max(-1, len(rows) - 4), -1):
            row_box, row_words = rows[index]
            if _v_overlap(row_box, box) >= 0.5:
                row_words.append(word)
                rows[index] = (_union_boxes([row_box, box]), row_words)
                break
        else:
            rows.append((box, [word]))
    max_gap = 1.6 * char_height
    fragments: list[Fragment] = []
    for _, row_words in rows:
        ordered = sorted(row_words, key=lambda w: w.x0)
        current = [ordered[0]]
        for word in ordered[1:]:
            if word.x0 - current[-1].x1 <= max_gap:
                current.append(word)
            else:
                fragments.append(Fragment(current))
                current = [word]
        fragments.append(Fragment(current))
    return fragments


def make_bands(fragments: list[Fragment]) -> list[list[Fragment]]:
    """Fragments that overlap vertically, top to bottom."""
    bands: list[list[Fragment]] = []
    band_box: Box | None = None
    for fragment in sorted(fragments, key=lambda f: f.box[1]):
        box = fragment.box
        if band_box is not None and box[1] < band_box[3] - 0.3 * fragment.height:
            bands[-1].append(fragment)
            band_box = _union_boxes([band_box, box])
        else:
            bands.append([fragment])
            band_box = box
    return bands


def _gutters(fragments: Sequence[Fragment], min_width: float) -> list[tuple[float, float]]:
    """Horizontal intervals that no fragment covers, between the leftmost and rightmost."""
    spans = sorted((f.box[0], f.box[2]) for f in fragments)
    gutters = []
    reach = spans[0][1]
    for start, end in spans[1:]:
        if start - reach >= min_width:
            gutters.append((reach, start))
        reach = max(reach, end)
    return gutters


def _crosses(fragments: Sequence[Fragment], gutter: tuple[float, float]) -> bool:
    middle = (gutter[0] + gutter[1]) / 2
    return any(f.box[0] < middle < f.box[2] for f in fragments)


def _is_running_text(fragments: Sequence[Fragment]) -> bool:
    """Lines of several words, as a text column has; a table cell has one or two."""
    if len(fragments) < 2:
        return False
    return statistics.median(len(f.words) for f in fragments) >= 3


def make_sections(bands: list[list[Fragment]], min_gutter: float) -> list[list[list[Fragment]]]:
    """Split the page top to bottom into sections, each a list of columns (left to right)."""
    sections: list[list[list[Fragment]]] = []
    current: list[Fragment] = []
    gutter: tuple[float, float] | None = None

    def close() -> None:
        if current:
            sections.append(_columns(current, gutter))

    for band in bands:
        band_gutters = _gutters(band, min_gutter)
        if gutter is not None and not _crosses(band, gutter):
            current.extend(band)
            continue
        if gutter is None and current and not band_gutters:
            current.extend(band)
            continue
        close()
        current = list(band)
        gutter = band_gutters[0] if len(band_gutters) == 1 else None
    close()
    return sections


def _columns(fragments: list[Fragment], gutter: tuple[float, float] | None) -> list[list[Fragment]]:
    if gutter is None:
        return [fragments]
    middle = (gutter[0] + gutter[1]) / 2
    left = [f for f in fragments if f.box[2] <= middle]
    right = [f for f in fragments if f.box[0] >= middle]
    if _is_running_text(left) and _is_running_text(right):
        return [left, right]
    return [fragments]


def _lines_of(fragments: list[Fragment]) -> list[list[Word]]:
    """Fragments on the same baseline (table cells of a row) join into one line."""
    lines: list[list[Word]] = []
    boxes: list[Box] = []
    for fragment in sorted(fragments, key=lambda f: (f.box[1] + f.box[3]) / 2):
        box = fragment.box
        if boxes and _v_overlap(boxes[-1], box) >= 0.5:
            lines[-1].extend(fragment.words)
            boxes[-1] = _union_boxes([boxes[-1], box])
        else:
            lines.append(list(fragment.words))
            boxes.append(box)
    return [sorted(line, key=lambda w: w.x0) for line in lines]


def map_page(page: PageText) -> PageLayout:
    """Lines and blocks of one page, in reading order, boxes normalised to the page."""
    words = [w for w in page.words if w.x1 > w.x0 or w.y1 > w.y0]
    if not words:
        return PageLayout(page.number, page.width, page.height, (), ())
    char_height = statistics.median(w.y1 - w.y0 for w in words) or 1.0
    sections = make_sections(make_bands(make_fragments(words, char_height)), 2 * char_height)
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
    for section in sections:
        for column in section:
            previous: Box | None = None
            for line_words in _lines_of(column):
                box = _union(line_words)
                if previous is None or box[1] - previous[3] > 1.0 * char_height:
                    blocks.append(Block(norm(box), len(lines), len(lines)))
                block = blocks[-1]
                blocks[-1] = Block(
                    norm(_union_boxes([_denorm(block.box, width, height), box])),
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
    columns = max((len(section) for section in sections), default=1)
    return PageLayout(page.number, page.width, page.height, tuple(lines), tuple(blocks), columns)


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
