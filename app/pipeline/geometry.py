"""Boxes on a page: a word's or a line's extent as (x0, y0, x1, y1), top-left origin,
in the page's own units until `layout.map_page` normalises them to 0-1."""

from __future__ import annotations

from collections.abc import Iterable

from app.pipeline.ocr import Word

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def union(words: Iterable[Word]) -> Box:
    items = list(words)
    return (
        min(w.x0 for w in items),
        min(w.y0 for w in items),
        max(w.x1 for w in items),
        max(w.y1 for w in items),
    )


def union_boxes(boxes: Iterable[Box]) -> Box:
    items = list(boxes)
    return (
        min(b[0] for b in items),
        min(b[1] for b in items),
        max(b[2] for b in items),
        max(b[3] for b in items),
    )


def v_overlap(a: Box, b: Box) -> float:
    """How much two boxes overlap vertically, as a share of the shorter one."""
    overlap = min(a[3], b[3]) - max(a[1], b[1])
    shorter = max(min(a[3] - a[1], b[3] - b[1]), 1e-9)
    return overlap / shorter


def centre_x(box: Box) -> float:
    return (box[0] + box[2]) / 2
