"""The order in which a page's fragments are read: steps 3 and 4 of `layout.map_page`
(see layout.py).

A running header and footer (the first and last bands, set apart in the top or
bottom tenth of the page) are read first and last; the body is cut into sections
and columns by a recursive XY cut (as xpdf's and pdfminer's layout analyses do, by
their gaps), each column read the same way, so a column may hold columns.
`reading_order` gives the runs of fragments in that order.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Sequence

from app.pipeline.fragments import GUTTER_WIDTH, Fragment, is_speck
from app.pipeline.geometry import Box, centre_x, union_boxes, v_overlap

# Rows in this share of the page's height at its top or bottom, set apart from the rest
# by a wider gap, are a running header or footer.
MARGIN_SHARE = 0.1


def make_bands(fragments: Iterable[Fragment]) -> list[list[Fragment]]:
    """Fragments that overlap vertically, top to bottom."""
    bands: list[list[Fragment]] = []
    band_box: Box | None = None
    for fragment in sorted(fragments, key=lambda f: f.box[1]):
        box = fragment.box
        if band_box is not None and box[1] < band_box[3] - 0.3 * fragment.height:
            bands[-1].append(fragment)
            band_box = union_boxes([band_box, box])
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
        band = [f for f in whole if not is_speck(f.box, char_height)]
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
    return [union_boxes(f.box for f in band) for band in make_bands(fragments)]


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
    matched = sum(1 for row in ours if any(v_overlap(row, other) >= 0.7 for other in theirs))
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
            centre = centre_x(fragment.box)
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
    boxes = [union_boxes(f.box for f in band) for band in bands]
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


def reading_order(
    fragments: list[Fragment], page_height: float, char_height: float
) -> tuple[list[list[Fragment]], int]:
    """The page's runs of fragments in reading order, and the most columns read side by
    side: the running header's bands first, then the body's runs by the XY cut, then
    the footer's bands."""
    header, body, footer = _margins(fragments, page_height, char_height)
    runs: list[list[Fragment]] = list(header)
    columns = _read(body, char_height, runs) if body else 1
    runs.extend(footer)
    return runs, columns
