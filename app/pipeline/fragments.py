"""Words into fragments, the pieces `layout.map_page` lays out: steps 1 and 2 of its
reading (see layout.py).

A skewed scan's words are sheared level (`deskewed`, by the median slope `skew`
finds); a drop capital is set aside to join the first line of its paragraph
(`drop_capitals`); then words on one baseline make a row (`make_rows`), split where
a gap could be a column gutter (`make_fragments`). A *speck* (`is_speck`), a mark a
noisy scan's OCR reads as a word, goes with the row it falls in but never decides
where a row or a gutter runs.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

from app.pipeline.geometry import Box, centre_x, union, v_overlap
from app.pipeline.ocr import Word


@dataclass
class Fragment:
    words: list[Word]  # not changed once made: the box is worked out once

    @cached_property
    def box(self) -> Box:
        return union(self.words)

    @property
    def height(self) -> float:
        _, y0, _, y1 = self.box
        return y1 - y0


# A one- or two-letter word this many times taller than the median word, with text
# beside it, is a drop capital: it joins the line it starts instead of being laid out.
DROP_CAP_HEIGHT = 2.2
# A vertical strip this many median word heights wide, free of text, may be a gutter
# between columns (a word space is about half of one; a narrow gutter, 12 pt at 10 pt
# type, about one and a half).
GUTTER_WIDTH = 1.0
# A mark smaller than this many median word heights both ways (a speck of dust or
# toner, a stray dot or dash, each of which a noisy scan's OCR reads as a word) is too
# small to say where a line runs or where a gutter lies: it joins the line it falls in.
SPECK = 0.5


def _box(word: Word) -> Box:
    return (word.x0, word.y0, word.x1, word.y1)


def is_speck(box: Box, char_height: float) -> bool:
    return max(box[2] - box[0], box[3] - box[1]) < SPECK * char_height


def nearest(boxes: Sequence[Box], box: Box, char_height: float) -> Box:
    """Of `boxes`, the one nearest `box` left to right; a speck only if all are specks.

    A speck is a few pixels tall: a word beside it on the same line may overlap it by
    less than half, so measured against it, one line would break in two.
    """
    solid = [other for other in boxes if not is_speck(other, char_height)] or boxes
    return min(solid, key=lambda other: abs(centre_x(other) - centre_x(box)))


def make_rows(words: Iterable[Word], char_height: float) -> list[list[Word]]:
    """Words on one baseline, top to bottom.

    A word joins a row when it lines up with the row's word nearest to it, not with the
    whole row, so a line that drifts across a skewed scan stays one row.
    """
    rows: list[list[Word]] = []
    for word in sorted(words, key=lambda w: (w.y0 + w.y1) / 2):
        box = _box(word)
        for row in reversed(rows[-3:]):
            if v_overlap(nearest([_box(w) for w in row], box, char_height), box) >= 0.5:
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


def deskewed(words: list[Word], char_height: float) -> tuple[list[Word], dict[int, Word]]:
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


def drop_capitals(words: list[Word], char_height: float) -> tuple[list[Word], dict[int, Word]]:
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
