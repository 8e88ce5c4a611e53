"""Random documents' mentions for the record's tests: records of every kind drawn from
few values (two documents on one date, the same drug with and without a code, results in
units that convert and one that does not, values to review), so that ties, conflicts and
unit changes happen often."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from typing import Any

from app.pipeline.ai import types as ai
from app.pipeline.record.mentions import DocumentInfo, Mention, document_mentions

DATES = ("2022-05-01", "2023-01-01", "2023-01-01", "2024-07-15", None)


def _maybe(rng: random.Random, *values: Any) -> Any:
    return rng.choice(values)


def _records(rng: random.Random) -> list[ai.Record]:
    """A document's records, drawn from few values so that ties and conflicts happen."""
    makers = [
        lambda i: ai.Medication(
            f"m{i}",
            (f"e{i}",),
            _maybe(rng, "metformin", "Metformin"),
            _maybe(rng, None, 500.0, 850.0),
            "mg",
            _maybe(rng, None, 1.0),
            "{tablet}",
            _maybe(rng, None, "oral"),
            _maybe(rng, None, "twice daily"),
            _maybe(rng, "active", "stopped", "new", "unknown"),
            _maybe(rng, None, "6809"),
        ),
        lambda i: ai.Condition(
            f"c{i}",
            (f"e{i}",),
            "type 2 diabetes",
            _maybe(rng, "active", "resolved", "history"),
            _maybe(rng, None, "2019", "2020-03"),
            _maybe(rng, None, "44054006"),
            _maybe(rng, None, "E11.9"),
        ),
        lambda i: ai.Allergy(
            f"a{i}",
            (f"e{i}",),
            "latex",
            _maybe(rng, None, "hives", "rash"),
            _maybe(rng, None, "mild", "severe", "moderate"),
        ),
        lambda i: ai.Immunization(f"i{i}", (f"e{i}",), "Tdap", _maybe(rng, None, "2021"), "115"),
        lambda i: ai.Procedure(f"p{i}", (f"e{i}",), "appendectomy", _maybe(rng, None, "2010")),
        lambda i: _hba1c(rng, i),
        lambda i: _tsh(rng, i),
        lambda i: ai.Vital(
            f"v{i}",
            (f"e{i}",),
            "blood_pressure",
            None,
            "mm[Hg]",
            _maybe(rng, None, 120.0, 141.0),
            80.0,
            needs_review=rng.random() < 0.2,
        ),
    ]
    chosen = rng.sample(range(len(makers)), rng.randint(1, len(makers)))
    extra = [rng.randrange(len(makers)) for _ in range(rng.randint(0, 2))]
    return [makers[kind](number) for number, kind in enumerate(chosen + extra)]


def _hba1c(rng: random.Random, i: int) -> ai.LabResult:
    unit = _maybe(rng, "mmol/mol", "%")
    value = _maybe(rng, None, 48.0, 53.0) if unit == "mmol/mol" else _maybe(rng, None, 6.8)
    ranged = rng.random() < 0.5
    return ai.LabResult(
        f"l{i}",
        (f"e{i}",),
        "HbA1c",
        value,
        "<5" if value is None else f"{value:g}",
        unit,
        (20.0 if unit == "mmol/mol" else 4.0) if ranged else None,
        (41.0 if unit == "mmol/mol" else 5.9) if ranged else None,
        _maybe(rng, None, "H"),
        "59261-8" if unit == "mmol/mol" else "4548-4",
        needs_review=rng.random() < 0.25,
        review_reason="implausible",
    )


def _tsh(rng: random.Random, i: int) -> ai.LabResult:
    unit = _maybe(rng, "m[IU]/L", "[IU]/L", "ng/dL", None)
    value = _maybe(rng, None, 2.1, 0.0025)
    return ai.LabResult(
        f"t{i}",
        (f"e{i}",),
        "TSH",
        value,
        "" if value is None else f"{value:g}",
        unit,
        _maybe(rng, None, 0.4),
        _maybe(rng, None, 4.0),
        None,
        "3016-3",
        needs_review=rng.random() < 0.25,
    )


def random_document(rng: random.Random, number: int) -> list[Mention]:
    records = _records(rng)
    by_kind: dict[str, list[ai.Record]] = defaultdict(list)
    for record in records:
        by_kind[records_field(record)].append(record)
    entities = [
        ai.Entity(f"e{i}", "lab_result", "x", 0, 1, 1 + i % 3, (0.1, 0.2, 0.3, 0.25), 0.9)
        for i in range(20)
    ]
    date = _maybe(rng, *DATES)
    info = DocumentInfo(
        str(uuid.UUID(int=number + 1)),
        f"2025-01-{1 + number % 28:02d}T10:0{number % 10}:00+00:00",
        date,
    )
    clinical = ai.ClinicalRecords(document_date=date, **{k: tuple(v) for k, v in by_kind.items()})
    return document_mentions(info, clinical, entities)


def records_field(record: ai.Record) -> str:
    """The field of `ClinicalRecords` that holds a record of this kind."""
    return {
        ai.Medication: "medications",
        ai.LabResult: "lab_results",
        ai.Vital: "vitals",
        ai.Condition: "conditions",
        ai.Allergy: "allergies",
        ai.Immunization: "immunizations",
        ai.Procedure: "procedures",
    }[type(record)]
