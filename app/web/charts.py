"""A test's trend as an inline SVG chart drawn on the server: no script, no style.

`trend_chart(series)` places the series' points (oldest left) on a fixed canvas and
returns what the template draws: the polyline, each point (with its label and the link to
its source page), the reference range band and the axis labels. Undated points are drawn
hollow. The template puts a table of the same values beside it, for screen readers and
for anyone who wants the numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 36


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    label: str
    shell_file_id: str  # the source document and page the point links to
    page: int
    undated: bool


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    points: tuple[ChartPoint, ...]
    polyline: str
    band: tuple[float, float] | None  # y of the range's top and bottom
    y_labels: tuple[tuple[float, str], ...]
    x_labels: tuple[tuple[float, str, str], ...]  # x, text, text-anchor
    unit: str | None
    places: int  # decimals the series' own unit was printed with

    def shown(self, point: dict[str, Any]) -> str:
        """A point's value for people: as printed when printed in the series' unit, else
        converted and rounded as values in that unit are printed (48 mmol/mol is 6.5 %,
        not 6.542 %)."""
        return shown(point, self.unit, self.places)


def _places(text: str) -> int:
    found = re.search(r"\d+(?:[.,](\d+))?", text or "")
    return len(found.group(1) or "") if found else 0


def printed_places(series: dict[str, Any]) -> int:
    """The most decimals a value printed in the series' own unit shows (one if none is)."""
    own = [
        _places(p["value_text"])
        for p in series["points"]
        if p["value"] is not None and p["original_unit"] == series["unit"]
    ]
    return max(own) if own else 1


def shown(point: dict[str, Any], unit: str | None, places: int) -> str:
    if point["value"] is None:
        return str(point["value_text"])
    if point["original_unit"] == unit:
        return f"{point['value']:g}"
    return f"{point['value']:.{places}f}"


def source_page(source: dict[str, Any]) -> int:
    """The page a point was read on (the first of its mention's places)."""
    return int(source["places"][0]["page"]) if source["places"] else 1


def _scale(low: float, high: float, top: float, bottom: float) -> Any:
    span = (high - low) or 1.0

    def y(value: float) -> float:
        return round(bottom - (value - low) / span * (bottom - top), 1)

    return y


def _label(point: dict[str, Any], unit: str | None, places: int) -> str:
    when = point["date"] + (" (undated)" if point["undated"] else "")
    return f"{when}: {shown(point, unit, places)} {unit or ''}".strip()


def trend_chart(series: dict[str, Any]) -> Chart | None:
    """The chart of a series' points with a value; None when there are none."""
    points = [p for p in series["points"] if p["value"] is not None]
    if not points:
        return None
    values = [p["value"] for p in points]
    low_ref, high_ref = series["reference_low"], series["reference_high"]
    bounds = [*values, *(v for v in (low_ref, high_ref) if v is not None)]
    low, high = min(bounds), max(bounds)
    pad = (high - low) * 0.1 or abs(high) * 0.1 or 1.0
    low, high = low - pad, high + pad
    y = _scale(low, high, TOP, HEIGHT - BOTTOM)
    step = (WIDTH - LEFT - RIGHT) / max(1, len(points) - 1)
    places = printed_places(series)
    placed = tuple(
        ChartPoint(
            x=round(LEFT + (i * step if len(points) > 1 else (WIDTH - LEFT - RIGHT) / 2), 1),
            y=y(p["value"]),
            label=_label(p, series["unit"], places),
            shell_file_id=p["source"]["shell_file_id"],
            page=source_page(p["source"]),
            undated=p["undated"],
        )
        for i, p in enumerate(points)
    )
    band = None
    if low_ref is not None or high_ref is not None:
        band = (
            y(high_ref if high_ref is not None else high),
            y(low_ref if low_ref is not None else low),
        )
    ticks = (low + pad, (low + high) / 2, high - pad)
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        points=placed,
        polyline=" ".join(f"{p.x},{p.y}" for p in placed),
        band=band,
        y_labels=tuple((y(v), f"{v:.3g}") for v in ticks),
        x_labels=_x_labels(placed, points),
        unit=series["unit"],
        places=places,
    )


def _x_labels(
    placed: tuple[ChartPoint, ...], points: list[dict[str, Any]]
) -> tuple[tuple[float, str, str], ...]:
    """The first and last dates under their points, each kept inside the canvas."""
    if len(placed) == 1:
        return ((placed[0].x, points[0]["date"], "middle"),)
    return (
        (placed[0].x, points[0]["date"], "middle"),
        (placed[-1].x, points[-1]["date"], "end"),
    )
