"""The API's blueprint under /api/v1 and what guards it: every route authenticates
(but the public ones), and every error answers in one JSON shape.

The view modules import `api` from here to add their routes; `app.api` imports them,
so the routes are registered before the app registers the blueprint.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from app.access.tokens import authenticate
from app.audit import AuditUnavailable
from app.db import request_session

api = Blueprint("api", __name__, url_prefix="/api/v1")

PUBLIC_ENDPOINTS = frozenset({"api.openapi"})
# Views that verify a recently seen token in their own statement (`authenticate`).
DEFERRED_TOKEN_ENDPOINTS = frozenset({"api.upload_shell_file"})


@api.before_request
def _authenticate() -> None:
    if request.endpoint not in PUBLIC_ENDPOINTS:
        deferred = request.endpoint in DEFERRED_TOKEN_ENDPOINTS
        authenticate(request_session(), deferred=deferred)


def error_response(
    status: int,
    code: str,
    message: str,
    reason: str | None = None,
    *,
    retry_after: int | None = None,
) -> tuple[Response, int]:
    detail = {"code": code, "message": message}
    if reason is not None:
        detail["reason"] = reason
    response = jsonify(error=detail)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response, status


@api.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    code = (exc.name or "error").lower().replace(" ", "_")
    response, status = error_response(exc.code or 500, code, exc.description or "")
    # Keep the headers the exception carries (405's Allow, 429's Retry-After); only
    # the body is ours.
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    if exc.code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response, status


@api.app_errorhandler(AuditUnavailable)
def _audit_unavailable(_exc: AuditUnavailable) -> Any:
    return error_response(503, "audit_unavailable", "the access could not be audited; try again")
