"""The health record's answers, declared as pydantic models (beside `app.api.schemas`,
whose `Answer` they build on; kept apart to keep each module short).

They mirror the merged record's dataclasses (`app.pipeline.record`): the views return
those dataclasses as JSON, and the tests check every answer against these models.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from app.api.schemas import Answer

MAX_CODE_LENGTH = 64


class Place(Answer):
    page: int
    box: Annotated[list[float], Field(min_length=4, max_length=4)] | None
    entity: str


class Source(Answer):
    """A mention's document: `date` is its date, or the day it was uploaded when it is
    `undated`; `places` the pages and boxes (0-1) of the words."""

    shell_file_id: uuid.UUID
    record_id: str
    date: str
    undated: bool
    uploaded_at: str
    places: list[Place]


class Seen(Answer):
    first_seen: str | None
    last_seen: str | None
    undated: bool


class DoseSeen(Answer):
    strength: float | None
    strength_unit: str | None
    dose: float | None
    dose_unit: str | None
    route: str | None
    frequency: str | None
    shell_file_id: uuid.UUID
    record_id: str
    date: str


class Medication(Answer):
    key: str
    name: str
    rxnorm: str | None
    status: Literal["active", "stopped", "unknown"]
    strength: float | None
    strength_unit: str | None
    dose: float | None
    dose_unit: str | None
    route: str | None
    frequency: str | None
    seen: Seen
    conflict: list[DoseSeen] = Field(
        description="Different doses documented on the newest date: none is chosen"
    )
    sources: list[Source]


class Condition(Answer):
    key: str
    name: str
    snomed: str | None
    icd10cm: str | None
    status: str
    onset_date: str | None
    seen: Seen
    sources: list[Source]


class Allergy(Answer):
    key: str
    substance: str
    reactions: list[str]
    severity: str | None
    seen: Seen
    sources: list[Source]


class Event(Answer):
    """An immunization (`code`: CVX) or a procedure; `date` None when not stated."""

    key: str
    name: str
    code: str | None
    date: str | None
    seen: Seen
    sources: list[Source]


class Point(Answer):
    date: str
    undated: bool
    value: float | None
    value_text: str
    unit: str | None
    reference_low: float | None
    reference_high: float | None
    flag: str | None
    needs_review: bool
    review_reason: str | None
    original_value: float | None
    original_unit: str | None
    source: Source


class SeriesSummary(Answer):
    unit: str | None
    count: int
    review_count: int
    reference_low: float | None
    reference_high: float | None


class Series(Answer):
    unit: str | None
    points: list[Point] = Field(description="The trend, oldest first, in `unit`")
    review: list[Point] = Field(description="Values that need review: never in the trend")
    reference_low: float | None
    reference_high: float | None


class ObservationSummary(Answer):
    key: str = Field(description="The test's key: its first LOINC code, else `name:<test>`")
    name: str
    loinc: str | None = Field(
        description="The test's LOINC code in the display unit (HbA1c in % is 4548-4, in"
        " mmol/mol 59261-8); null for a test known by name only"
    )
    category: Literal["laboratory", "vital-signs"]
    unit: str | None
    latest: Point | None
    count: int
    seen: Seen
    series: list[SeriesSummary]


class Observation(ObservationSummary):
    series: list[Series]  # type: ignore[assignment]


class Record(Answer):
    profile_id: uuid.UUID
    medications: list[Medication]
    conditions: list[Condition]
    allergies: list[Allergy]
    immunizations: list[Event]
    procedures: list[Event]
    observations: list[ObservationSummary]


class Medications(Answer):
    profile_id: uuid.UUID
    items: list[Medication]


class ObservationSeries(Answer):
    profile_id: uuid.UUID
    code: str
    observation: Observation


class ObservationQuery(BaseModel):
    code: str = Field(
        min_length=1,
        max_length=MAX_CODE_LENGTH,
        description="A LOINC code of the test (any of its units' codes), or its key",
    )
