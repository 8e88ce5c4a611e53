"""JSON schemas of the three passes' answers, built from the dataclasses, and a checker.

The schemas follow OpenAI's strict structured-output rules: every object lists all
its properties as required and allows no others; an optional value is a union
with "null". `check(schema, value)` checks an answer against one (the subset of
JSON Schema these use: type, properties, required, additionalProperties, items,
enum) and raises `SchemaMismatch` with a path, never the offending value.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Union

from app.pipeline.ai.types import (
    ENTITY_TYPES,
    NARRATIVE_KINDS,
    VITAL_TYPES,
    Allergy,
    Condition,
    Immunization,
    LabResult,
    Medication,
    Procedure,
    Vital,
)

RECORD_TYPES: dict[str, type] = {
    "medications": Medication,
    "lab_results": LabResult,
    "vitals": Vital,
    "conditions": Condition,
    "allergies": Allergy,
    "immunizations": Immunization,
    "procedures": Procedure,
}
ENUMS: dict[tuple[type, str], tuple[str, ...]] = {
    (Medication, "status"): (
        "active",
        "new",
        "changed",
        "stopped",
        "on_hold",
        "not_taking",
        "intended",
    ),
    (Condition, "status"): ("active", "resolved", "history", "negated", "family"),
    (Vital, "type"): VITAL_TYPES,
    (LabResult, "abnormal_flag"): ("H", "L", "N"),
}
_JSON_TYPES = {str: "string", float: "number", int: "integer", bool: "boolean"}
# What the pipeline itself says about a value read from a page (its OCR confidence and
# whether it needs review): a remote model is not asked; its records take the defaults.
NOT_ASKED = frozenset({"needs_review", "review_reason", "ocr_confidence"})


class SchemaMismatch(ValueError):
    """An answer that does not fit its schema; the message names the path only."""


def _strict(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _field_schema(hint: Any) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        inner = _field_schema(options[0])
        return {**inner, "type": [inner["type"], "null"]}
    if origin is tuple:
        return {"type": "array", "items": _field_schema(typing.get_args(hint)[0])}
    return {"type": _JSON_TYPES[hint]}


def record_schema(cls: type) -> dict[str, Any]:
    """A record's schema: every field but `id` (ids are given after the answer) and those
    `NOT_ASKED`."""
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    for spec in dataclasses.fields(cls):
        if spec.name == "id" or spec.name in NOT_ASKED:
            continue
        schema = _field_schema(hints[spec.name])
        if (cls, spec.name) in ENUMS:
            nullable = isinstance(schema["type"], list)
            schema["enum"] = [*ENUMS[(cls, spec.name)], *([None] if nullable else [])]
        properties[spec.name] = schema
    return _strict(properties)


ENTITIES_SCHEMA: dict[str, Any] = _strict(
    {
        "entities": {
            "type": "array",
            "items": _strict(
                {
                    "type": {"type": "string", "enum": list(ENTITY_TYPES)},
                    "text": {"type": "string"},
                    "page": {"type": "integer"},
                    "line": {"type": "integer"},
                    "negated": {"type": "boolean"},
                    "historical": {"type": "boolean"},
                    "family": {"type": "boolean"},
                    "hypothetical": {"type": "boolean"},
                    "section": {"type": ["string", "null"]},
                    "confidence": {"type": "number"},
                }
            ),
        }
    }
)
RECORDS_SCHEMA: dict[str, Any] = _strict(
    {kind: {"type": "array", "items": record_schema(cls)} for kind, cls in RECORD_TYPES.items()}
)
NARRATIVE_SCHEMA: dict[str, Any] = _strict(
    {
        "kind": {"type": "string", "enum": list(NARRATIVE_KINDS)},
        "statements": {
            "type": "array",
            "items": _strict(
                {
                    "text": {"type": "string"},
                    "record_ids": {"type": "array", "items": {"type": "string"}},
                }
            ),
        },
    }
)


def _type_fits(expected: str, value: Any) -> bool:
    if expected == "null":
        return value is None
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    python = {"string": str, "array": list, "object": dict}[expected]
    return isinstance(value, python)


def check(schema: dict[str, Any], value: Any, path: str = "$") -> None:
    """Raise SchemaMismatch if `value` does not fit `schema`."""
    expected = schema.get("type")
    allowed: list[str] = expected if isinstance(expected, list) else [str(expected)]
    if expected is not None and not any(_type_fits(t, value) for t in allowed):
        raise SchemaMismatch(f"{path}: expected {'/'.join(allowed)}")
    if "enum" in schema and value is not None and value not in schema["enum"]:
        raise SchemaMismatch(f"{path}: not one of the allowed values")
    if isinstance(value, dict) and "properties" in schema:
        _check_object(schema, value, path)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            check(schema["items"], item, f"{path}[{index}]")


def _check_object(schema: dict[str, Any], value: dict[str, Any], path: str) -> None:
    properties = schema["properties"]
    missing = [name for name in schema.get("required", []) if name not in value]
    if missing:
        raise SchemaMismatch(f"{path}: missing {', '.join(missing)}")
    if schema.get("additionalProperties") is False:
        extra = [name for name in value if name not in properties]
        if extra:
            raise SchemaMismatch(f"{path}: {len(extra)} unexpected propert(ies)")
    for name, item in value.items():
        if name in properties:
            check(properties[name], item, f"{path}.{name}")
