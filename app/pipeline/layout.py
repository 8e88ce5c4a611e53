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

Boxes are normalised to 0-1 of the page's width and height, top-left origin, so a
client can draw them over the page image at any size. `document_text` joins the
pages into the text the AI lane reads, keeping for each line its page, its
vertical position and its character offsets, so a span found in the text maps
back to a page and a box.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

from app.pipeline.ocr import PageText, Word

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


@dataclass
class Fragment:
    words: list[Word]  # not changed once made: the box is worked out once

    @cached_property
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


# A one- or two-letter word this many times taller than the median word, with text
# beside it, is a drop capital: it joins the line it starts instead of being laid out.
DROP_CAP_HEIGHT = 2.2
# A vertical strip this many median word heights wide, free of text, may be a gutter
# between columns (a word space is about half of one; a narrow gutter, 12 pt at 10 pt
# type, about one and a half).
GUTTER_WIDTH = 1.0
# Rows in this share of the page's height at its top or bottom, set apart from the rest
# by a wider gap, are a running header or footer.
MARGIN_SHARE = 0.1
# A mark smaller than this many median word heights both ways (a speck of dust or
# toner, a stray dot or dash, each of which a noisy scan's OCR reads as a word) is too
# small to say where a line runs or where a gutter lies: it joins the line it falls in.
SPECK = 0.5


def _box(word: Word) -> Box:
    return (word.x0, word.y0, word.x1, word.y1)


def _centre_x(box: Box) -> float:
    return (box[0] + box[2]) / 2


def _is_speck(box: Box, char_height: float) -> bool:
    return max(box[2] - box[0], box[3] - box[1]) < SPECK * char_height


def _nearest(boxes: Sequence[Box], box: Box, char_height: float) -> Box:
    """Of `boxes`, the one nearest `box` left to right; a speck only if all are specks.

    A speck is a few pixels tall: a word beside it on the same line may overlap it by
    less than half, so measured against it, one line would break in two.
    """
    solid = [other for other in boxes if not _is_speck(other, char_height)] or boxes
    return min(solid, key=lambda other: abs(_centre_x(other) - _centre_x(box)))


def make_rows(words: Iterable[Word], char_height: float) -> list[list[Word]]:
    """Words on one baseline, top to bottom.

    A word joins a row when it lines up with the row's word nearest to it, not with the
    whole row, so a line that drifts across a skewed scan stays one row.
    """
    rows: list[list[Word]] = []
    for word in sorted(words, key=lambda w: (w.y0 + w.y1) / 2):
        box = _box(word)
        for row in reversed(rows[-3:]):
            if _v_overlap(_nearest([_box(w) for w in row], box, char_height), box) >= 0.5:
                row.append(word)
                break
        else:
            rows.append([word])
    return rows


def _runs(row: Sequence[Word], max_gap: float) -> list[list[Word]]:
    """The row's words left to right, split where the gap between two is `max_gap` or more."""
    ordered = sorted(row, key=lambda w: w.x0)
    runs = [[ordered[0]]]
    for word in ordered[1:]:
        if word.x0 - runs[-1][-1].x1 < max_gap:
            runs[-1].append(word)
        else:
            runs.append([word])
    return runs


def make_fragments(words: Sequence[Word], char_height: float) -> list[Fragment]:
    """Words on one baseline, split where the gap between them could be a column gutter."""
    return [
        Fragment(run)
        for row in make_rows(words, char_height)
        for run in _runs(row, GUTTER_WIDTH * char_height)
    ]


def skew(words: Sequence[Word], char_height: float) -> float:
    """The page's skew as a slope (dy/dx), from the long runs of words on one line.

    Each run's slope is measured between the centres of its two halves; the page's is
    their median, 0 when fewer than three runs are long enough to tell.
    """
    slopes = []
    for row in make_rows(words, char_height):
        for run in _runs(row, GUTTER_WIDTH * char_height):
            if len(run) < 4 or run[-1].x1 - run[0].x0 < 10 * char_height:
                continue
            halves = run[: len(run) // 2], run[len(run) // 2 :]
            (xa, ya), (xb, yb) = (
                (
                    statistics.fmean((w.x0 + w.x1) / 2 for w in half),
                    statistics.fmean((w.y0 + w.y1) / 2 for w in half),
                )
                for half in halves
            )
            slopes.append((yb - ya) / (xb - xa))
    return statistics.median(slopes) if len(slopes) >= 3 else 0.0


def _deskewed(words: list[Word], char_height: float) -> tuple[list[Word], dict[int, Word]]:
    """Words sheared level if the page is skewed, and {id of each sheared word: the word}."""
    slope = skew(words, char_height)
    span = max(w.x1 for w in words) - min(w.x0 for w in words)
    if abs(slope) * span < 0.1 * char_height:  # drifts less than a tenth of a line
        return words, {}
    level = [
        replace(w, y0=w.y0 - slope * (w.x0 + w.x1) / 2, y1=w.y1 - slope * (w.x0 + w.x1) / 2)
        for w in words
    ]
    return level, {id(new): old for new, old in zip(level, words, strict=True)}


def make_bands(fragments: Iterable[Fragment]) -> list[list[Fragment]]:
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


def _gaps(fragments: Sequence[Fragment], min_width: float) -> list[tuple[float, float]]:
    """Horizontal intervals that no fragment covers, between the leftmost and rightmost."""
    if not fragments:
        return []
    spans = sorted((f.box[0], f.box[2]) for f in fragments)
    gaps = []
    reach = spans[0][1]
    for start, end in spans[1:]:
        if start - reach >= min_width:
            gaps.append((reach, start))
        reach = max(reach, end)
    return gaps


def _narrow(
    gutters: list[tuple[float, float]], band: Sequence[Fragment], min_width: float
) -> list[tuple[float, float]]:
    """What `band` leaves free of text of each gutter, in pieces at least `min_width` wide."""
    free = gutters
    for fragment in band:
        x0, _, x1, _ = fragment.box
        pieces = []
        for start, end in free:
            if x1 <= start or x0 >= end:
                pieces.append((start, end))
                continue
            pieces += [
                piece for piece in ((start, x0), (x1, end)) if piece[1] - piece[0] >= min_width
            ]
        free = pieces
    return free


Section = tuple[list[Fragment], list[tuple[float, float]]]


def make_sections(fragments: Iterable[Fragment], char_height: float) -> list[Section]:
    """Runs of bands, top to bottom, each with the gutters that run through all of it.

    A band with a gap in it starts a run that lasts while later bands leave part of
    that gap open, so paragraph breaks that line up across two columns, or a column
    that ends before the other, do not cut the columns apart; bands without gaps make
    runs of their own. Specks neither close a gutter nor split one in two (a table's
    column gap split by a speck would leave a "column" of one speck between two
    gutters, lined up with neither side, and the table would be read as columns).
    """
    min_gutter = GUTTER_WIDTH * char_height
    sections: list[Section] = []
    current: list[Fragment] = []
    gutters: list[tuple[float, float]] = []
    for whole in make_bands(fragments):
        band = [f for f in whole if not _is_speck(f.box, char_height)]
        if current:
            if gutters:
                kept = _narrow(gutters, band, min_gutter)
                if kept:
                    current.extend(whole)
                    gutters = kept
                    continue
            elif not _gaps(band, min_gutter):
                current.extend(whole)
                continue
            sections.append((current, gutters))
        current = list(whole)
        gutters = _gaps(band, min_gutter)
    if current:
        sections.append((current, gutters))
    return sections


def _rows(fragments: Sequence[Fragment]) -> list[Box]:
    return [_union_boxes(f.box for f in band) for band in make_bands(fragments)]


def _is_running_text(fragments: Sequence[Fragment]) -> bool:
    """Lines of several words that fill their column, as prose has; table cells do not."""
    bands = make_bands(fragments)
    if len(bands) < 3:
        return False
    x0 = min(f.box[0] for f in fragments)
    x1 = max(f.box[2] for f in fragments)
    words = statistics.median(sum(len(f.words) for f in band) for band in bands)
    fill = statistics.median(
        (max(f.box[2] for f in band) - min(f.box[0] for f in band)) / max(x1 - x0, 1e-9)
        for band in bands
    )
    return words >= 3 and fill >= 0.6


def _aligned(left: Sequence[Fragment], right: Sequence[Fragment]) -> bool:
    """Whether the rows on the two sides mostly share baselines, as a table's cells do."""
    ours, theirs = sorted(_rows(left), key=lambda b: b[1]), sorted(_rows(right), key=lambda b: b[1])
    if len(ours) > len(theirs):
        ours, theirs = theirs, ours
    matched = sum(1 for row in ours if any(_v_overlap(row, other) >= 0.7 for other in theirs))
    return matched >= 0.7 * len(ours)


def _separates(left: Sequence[Fragment], right: Sequence[Fragment]) -> bool:
    """A gutter between blocks whose rows do not line up, or between two columns of prose.

    Where the rows line up and one side is not prose (a table, a form, a label beside
    its text, a river of wide word spaces in justified text), the rows are read whole.
    """
    if not _aligned(left, right):
        return True
    return _is_running_text(left) and _is_running_text(right)


def _columns(fragments: list[Fragment], gutters: list[tuple[float, float]]) -> list[list[Fragment]]:
    """The section split at the gutters that separate columns, left to right.

    Gutters that do not separate what lies either side are dropped one at a time, the
    narrowest first, so that word spaces that happen to line up give way to the gutter.
    A part between two gutters with a single line in it is no column (a stray mark in a
    table's column gap, lined up with neither side, would make each gutter look like a
    page's): the narrower gutter beside it goes, and the wider is judged on the parts
    that then lie either side of it.
    """
    cuts = sorted(gutters)
    while cuts:
        middles = [(start + end) / 2 for start, end in cuts]
        parts: list[list[Fragment]] = [[] for _ in range(len(cuts) + 1)]
        for fragment in fragments:
            centre = _centre_x(fragment.box)
            parts[sum(1 for middle in middles if middle < centre)].append(fragment)
        lone = [0 < i < len(cuts) and len(make_bands(part)) <= 1 for i, part in enumerate(parts)]
        failing = [
            i
            for i in range(len(cuts))
            if lone[i]
            or lone[i + 1]
            or not parts[i]
            or not parts[i + 1]
            or not _separates(parts[i], parts[i + 1])
        ]
        if not failing:
            return parts
        del cuts[min(failing, key=lambda i: cuts[i][1] - cuts[i][0])]
    return [fragments]


def _read(fragments: list[Fragment], char_height: float, out: list[list[Fragment]]) -> int:
    """Append the runs of `fragments` to `out` in reading order; how many columns it has.

    A recursive XY cut (as xpdf's and pdfminer's layout analyses do, by profile gaps):
    each section is split at its column gutters, and each column is read the same way.
    """
    columns = 1
    last_run: int | None = None  # the run this call appended last, if still the last in `out`
    for section, gutters in make_sections(fragments, char_height):
        parts = _columns(section, gutters)
        if len(parts) > 1:
            columns = max(columns, sum(_read(part, char_height, out) for part in parts))
        elif last_run is not None and last_run == len(out) - 1:
            out[-1] = out[-1] + section  # one column still: one run, its blocks cut by gaps
        else:
            out.append(section)
            last_run = len(out) - 1
    return columns


def _margins(
    fragments: list[Fragment], page_height: float, char_height: float
) -> tuple[list[list[Fragment]], list[Fragment], list[list[Fragment]]]:
    """(header bands, the body, footer bands): a running header or footer is read apart.

    A header is the first one or two bands, if they end in the top tenth of the page
    and the gap below them is wider than 1.5 lines and than any gap between them; a
    footer the same at the bottom.
    """
    bands = make_bands(fragments)
    boxes = [_union_boxes(f.box for f in band) for band in bands]
    gaps = [below[1] - above[3] for above, below in itertools.pairwise(boxes)]

    def apart(inside: list[float], after: float) -> bool:
        return after >= 1.5 * char_height and all(after >= 1.5 * gap for gap in inside)

    top = next(
        (
            count
            for count in (2, 1)
            if count < len(bands)
            and boxes[count - 1][3] <= MARGIN_SHARE * page_height
            and apart(gaps[: count - 1], gaps[count - 1])
        ),
        0,
    )
    bottom = next(
        (
            count
            for count in (2, 1)
            if count < len(bands) - top
            and boxes[-count][1] >= (1 - MARGIN_SHARE) * page_height
            and apart(gaps[len(gaps) - count + 1 :], gaps[-count])
        ),
        0,
    )
    body = [f for band in bands[top : len(bands) - bottom] for f in band]
    return bands[:top], body, bands[len(bands) - bottom :]


def _drop_capitals(words: list[Word], char_height: float) -> tuple[list[Word], dict[int, Word]]:
    """(the other words, {id of the word each drop capital goes before: the capital})."""
    rest: list[Word] = []
    caps: dict[int, Word] = {}
    for word in words:
        height, width = word.y1 - word.y0, word.x1 - word.x0
        if height > DROP_CAP_HEIGHT * char_height and len(word.text) <= 2:
            beside = [
                other
                for other in words
                if other.y1 - other.y0 <= 1.5 * char_height
                and word.y0 <= (other.y0 + other.y1) / 2 <= word.y1
                and 0 <= other.x0 - word.x1 <= 2 * width + char_height
            ]
            if beside:
                caps[id(min(beside, key=lambda w: (w.y0, w.x0)))] = word
                continue
        rest.append(word)
    return rest, caps


def _lines_of(fragments: list[Fragment], char_height: float) -> list[list[Word]]:
    """Fragments on the same baseline (table cells of a row) join into one line."""
    lines: list[list[Fragment]] = []
    for fragment in sorted(fragments, key=lambda f: (f.box[1] + f.box[3]) / 2):
        box = fragment.box
        for line in reversed(lines[-2:]):
            if _v_overlap(_nearest([f.box for f in line], box, char_height), box) >= 0.5:
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
    words, originals = _deskewed(words, char_height)
    words, caps = _drop_capitals(words, char_height)
    header, body, footer = _margins(
        make_fragments(words, char_height), page.height or max(w.y1 for w in words), char_height
    )
    runs: list[list[Fragment]] = list(header)
    columns = _read(body, char_height, runs) if body else 1
    runs.extend(footer)
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
