"""Observations over time: one entry per test, its results as dated series.

The display unit of a test is the unit of its newest result (not one kept for review);
every result whose unit converts to it (`app.pipeline.record.units`) joins the main
series, converted, reference range too, with its value as printed kept beside. Results
in a unit that does not convert stay a series of their own, in their own unit, never
mixed. Results marked `needs_review` are listed with the series as they were read, and
never join its points (the trend).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from app.pipeline.ai import types as ai
from app.pipeline.record.mentions import (
    DIASTOLIC,
    SYSTOLIC,
    Mention,
    Seen,
    Source,
    code_in_unit,
    seen,
)
from app.pipeline.record.units import convert, converts

_BP_NAMES = {SYSTOLIC: "Systolic blood pressure", DIASTOLIC: "Diastolic blood pressure"}


@dataclass(frozen=True)
class Point:
    date: str
    undated: bool
    value: float | None  # in the series' unit; None for a value printed as text ("<0.5")
    value_text: str
    unit: str | None
    reference_low: float | None
    reference_high: float | None
    flag: str | None  # H, L, N as the report printed it
    needs_review: bool
    review_reason: str | None
    original_value: float | None  # as printed, in `original_unit`
    original_unit: str | None
    source: Source


@dataclass(frozen=True)
class Series:
    unit: str | None
    points: tuple[Point, ...]  # the trend, oldest first
    review: tuple[Point, ...]  # needs review: shown, never part of the trend
    reference_low: float | None  # the newest range printed with a point, in `unit`
    reference_high: float | None


@dataclass(frozen=True)
class ObservationEntry:
    key: str
    name: str
    loinc: str | None  # the test's code in the display unit (None for a test by name)
    category: str  # laboratory or vital-signs
    unit: str | None  # the display unit (the main series')
    latest: Point | None
    count: int  # results in the trend, every series
    series: tuple[Series, ...]  # the main series first
    seen: Seen


def point(key: str, mention: Mention) -> Point:
    """The result a mention gives the test `key`, in its own unit."""
    record: Any = mention.record
    if isinstance(record, ai.LabResult):
        value, text = record.value, record.value_text
        low, high, flag = record.reference_low, record.reference_high, record.abnormal_flag
    else:
        value = {SYSTOLIC: record.systolic, DIASTOLIC: record.diastolic}.get(key, record.value)
        text, low, high, flag = (f"{value:g}" if value is not None else ""), None, None, None
    unit = (record.unit or "").strip() or None  # "% " is %: spaces are no part of a unit
    return Point(
        date=mention.source.date,
        undated=mention.source.undated,
        value=value,
        value_text=text,
        unit=unit,
        reference_low=low,
        reference_high=high,
        flag=flag,
        needs_review=record.needs_review,
        review_reason=record.review_reason,
        original_value=value,
        original_unit=unit,
        source=mention.source,
    )


def _in_unit(point: Point, unit: str | None, key: str) -> Point:
    """The point in `unit`: as printed when already in it, else converted and rounded to
    six significant figures (a rounding to places would turn 0.00021 IU/L into 0.0002)."""
    if point.unit == unit:
        return point

    def to(value: float | None) -> float | None:
        if value is None:
            return None
        converted = convert(value, point.unit, unit, key)
        return None if converted is None else float(f"{converted:.6g}")

    return replace(
        point,
        value=to(point.value),
        unit=unit,
        reference_low=to(point.reference_low),
        reference_high=to(point.reference_high),
    )


def _series(unit: str | None, points: list[Point], review: list[Point], key: str) -> Series:
    converted = [_in_unit(p, unit, key) for p in points]
    ranged = [p for p in converted if p.reference_low is not None or p.reference_high is not None]
    newest_range = ranged[-1] if ranged else None
    return Series(
        unit=unit,
        points=tuple(converted),
        review=tuple(review),
        reference_low=newest_range.reference_low if newest_range else None,
        reference_high=newest_range.reference_high if newest_range else None,
    )


def joins(unit: str | None, series_unit: str | None, key: str) -> bool:
    """Whether results in `unit` join a series shown in `series_unit`."""
    return unit == series_unit or converts(unit, series_unit, key)


def _split_by_unit(key: str, points: list[Point]) -> list[tuple[str | None, list[Point]]]:
    """Points grouped into series: the newest point's unit first, then each unit left.
    A point joins the first series whose unit it `joins`."""
    groups: list[tuple[str | None, list[Point]]] = []
    left = list(points)
    while left:
        valued = [p for p in left if p.value is not None]
        unit = (valued or left)[-1].unit
        joined = [joins(p.unit, unit, key) for p in left]
        groups.append((unit, [p for p, join in zip(left, joined, strict=True) if join]))
        left = [p for p, join in zip(left, joined, strict=True) if not join]
    return groups


def reviewed_in(unit: str | None, units: list[str | None], index: int, key: str) -> bool:
    """Whether a result to review, in `unit`, is listed with the series `index` of those
    shown in `units`: with each it converts to, and with the main one if with none."""
    if converts(unit, units[index], key):
        return True
    return index == 0 and not any(converts(unit, other, key) for other in units)


def _name(key: str, mentions: list[Mention]) -> str:
    record: Any = mentions[-1].record
    if isinstance(record, ai.LabResult):
        return str(record.test)
    return _BP_NAMES.get(key, str(record.type).replace("_", " ").capitalize())


def merge_observations(key: str, mentions: list[Mention]) -> ObservationEntry:
    """The test `key` from its mentions, oldest first."""
    points = [point(key, m) for m in mentions]
    trend = [p for p in points if not p.needs_review]
    review = [p for p in points if p.needs_review]
    groups = _split_by_unit(key, trend)
    units = [unit for unit, _ in groups] or [review[-1].unit if review else None]
    series = [
        _series(
            unit,
            groups[index][1] if groups else [],
            [p for p in review if reviewed_in(p.unit, units, index, key)],
            key,
        )
        for index, unit in enumerate(units)
    ]
    main = series[0]
    is_lab = isinstance(mentions[-1].record, ai.LabResult)
    return ObservationEntry(
        key=key,
        name=_name(key, mentions),
        loinc=code_in_unit(key, main.unit),
        category="laboratory" if is_lab else "vital-signs",
        unit=main.unit,
        latest=main.points[-1] if main.points else None,
        count=sum(len(s.points) for s in series),
        series=tuple(series),
        seen=seen(mentions),
    )
