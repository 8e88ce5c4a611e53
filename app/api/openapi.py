"""The OpenAPI 3.1 description of the API, served at /api/v1/openapi.json.

Derived, not written beside the code: the paths, methods and path parameters come from
the blueprint's own routes; each view declares with `@documented` what else a client
needs (summary, query, headers, body, answers) as the pydantic models of
`app.api.schemas`, whose JSON Schemas become the components. A route without a
declaration fails the build. The tests check the app's real answers against this
document, so neither can drift from the other.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, jsonify
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema
from werkzeug.routing import IntegerConverter, Rule

from app.api.blueprint import PUBLIC_ENDPOINTS, api
from app.api.schemas import Error

F = TypeVar("F", bound=Callable[..., Any])
REF = "#/components/schemas/{model}"
INFO = {
    "title": "Shell file pipeline",
    "version": "1",
    "description": "Upload medical documents into a profile and follow their processing.",
}


@dataclass(frozen=True)
class Reply:
    """One answer of an operation: its status, and the body's model (none for no body,
    or `schema` for a body no model describes, such as the original bytes)."""

    status: int
    description: str
    model: type[BaseModel] | None = None
    media_type: str = "application/json"
    schema: dict[str, Any] | None = None


def error(status: int, description: str) -> Reply:
    return Reply(status, description, Error)


UNAUTHENTICATED = error(401, "Missing or invalid bearer token")
AUDIT_UNAVAILABLE = error(503, "The access could not be audited, so it was refused")
COMMON_ERRORS = (UNAUTHENTICATED, error(404, "Not found, or not yours"), AUDIT_UNAVAILABLE)
BINARY = {"type": "string", "format": "binary"}


@dataclass(frozen=True)
class Operation:
    summary: str
    replies: tuple[Reply, ...]
    query: type[BaseModel] | None = None
    headers: type[BaseModel] | None = None
    path: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_media_type: str = "application/json"
    body_required: bool = True


class _JsonSchema(GenerateJsonSchema):
    """Pydantic's JSON Schema without a title on every field, nor a null default on a
    field that may be left out but is never null."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        if "default" in json_schema and json_schema["default"] is None:
            del json_schema["default"]
        return json_schema


def documented(
    summary: str,
    *replies: Reply,
    query: type[BaseModel] | None = None,
    headers: type[BaseModel] | None = None,
    path: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    body_media_type: str = "application/json",
    body_required: bool = True,
) -> Callable[[F], F]:
    """Declare a view's operation for the description: its `replies`, and the models of
    its `query`, `headers` and `path` parameters (a path parameter not declared takes
    its converter's type) and of its `body`."""
    operation = Operation(
        summary, replies, query, headers, path, body, body_media_type, body_required
    )

    def declare(view: F) -> F:
        view.openapi = operation  # type: ignore[attr-defined]
        return view

    return declare


def openapi_path(rule: str) -> str:
    """Flask's /a/<id> or /a/<int:id> as OpenAPI's /a/{id}."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _parameters(model: type[BaseModel] | None, where: str) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template=REF, schema_generator=_JsonSchema)
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": where, "required": name in required, "schema": prop}
        for name, prop in schema["properties"].items()
    ]


def _path_parameters(rule: Rule, declared: type[BaseModel] | None) -> list[dict[str, Any]]:
    """Every argument of the route; its schema from `declared`, else from its converter."""
    given = {p["name"]: p["schema"] for p in _parameters(declared, "path")}
    params = []
    for name in sorted(rule.arguments, key=rule.rule.index):
        converter = rule._converters[name]  # werkzeug keeps a rule's converters only here
        default = {"type": "integer" if isinstance(converter, IntegerConverter) else "string"}
        params.append(
            {"name": name, "in": "path", "required": True, "schema": given.get(name, default)}
        )
    return params


def _content(model: type[BaseModel] | None, media_type: str, schema: dict[str, Any] | None) -> Any:
    if model is not None:
        schema = {"$ref": REF.format(model=model.__name__)}
    return {"content": {media_type: {"schema": schema}}} if schema is not None else {}


def _operation(rule: Rule, name: str, op: Operation, models: set[type[BaseModel]]) -> Any:
    described: dict[str, Any] = {"operationId": name, "summary": op.summary}
    parameters = [
        *_path_parameters(rule, op.path),
        *_parameters(op.query, "query"),
        *_parameters(op.headers, "header"),
    ]
    if parameters:
        described["parameters"] = parameters
    if op.body is not None:
        models.add(op.body)
        described["requestBody"] = {
            "required": op.body_required,
            **_content(op.body, op.body_media_type, None),
        }
    described["responses"] = {
        str(reply.status): {
            "description": reply.description,
            **_content(reply.model, reply.media_type, reply.schema),
        }
        for reply in sorted(op.replies, key=lambda reply: reply.status)
    }
    models.update(reply.model for reply in op.replies if reply.model is not None)
    return described


def build(blueprint: Blueprint, public: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The description of every route of `blueprint`, the endpoints in `public` needing
    no token. Raises LookupError for a route whose view has no `@documented` declaration."""
    app = Flask(__name__)  # a bare app: only the blueprint's routes, no configuration
    app.register_blueprint(blueprint)
    paths: dict[str, dict[str, Any]] = {}
    models: set[type[BaseModel]] = set()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(f"{blueprint.name}."):
            continue
        op = getattr(app.view_functions[rule.endpoint], "openapi", None)
        if op is None:
            raise LookupError(f"{rule.endpoint} ({rule.rule}) has no @documented declaration")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            item = paths.setdefault(openapi_path(rule.rule), {})
            name = rule.endpoint.removeprefix(f"{blueprint.name}.")
            item[method.lower()] = described = _operation(rule, name, op, models)
            if rule.endpoint in public:
                described["security"] = []
    by_name = sorted(models, key=lambda model: model.__name__)
    _, schemas = models_json_schema(
        [(model, "serialization") for model in by_name],
        ref_template=REF,
        schema_generator=_JsonSchema,
    )
    return {
        "openapi": "3.1.0",
        "info": INFO,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas.get("$defs", {}),
        },
        "security": [{"bearer": []}],
        "paths": dict(sorted(paths.items())),
    }


@cache
def description() -> dict[str, Any]:
    """The API's description, built once (the routes do not change while running)."""
    return build(api, PUBLIC_ENDPOINTS)


@api.get("/openapi.json")
@documented("This description", Reply(200, "OpenAPI 3.1 document"))
def openapi() -> Response:
    return jsonify(description())
