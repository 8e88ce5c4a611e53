"""The web app's blueprint and what guards every page: the signed-in account, security
headers and error pages.

The view modules import `web` from here to add their routes; `app.web` imports them and
registers the blueprint (`init_web`).
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import (
    Blueprint,
    Response,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app.access.accounts import SESSION_ACCOUNT_KEY, session_is_current, session_values
from app.audit import AuditUnavailable
from app.db import act_as, request_session
from app.models import Account

web = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/web-static",
)

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# Views that need no signed-in account.
PUBLIC_ENDPOINTS = frozenset({"web.sign_in", "web.static"})


def sign_in_account(account: Account) -> None:
    """Start a fresh session for the account (a new cookie: no fixation), stamped with
    its session version: bumping that signs the session out (`app.access.accounts`)."""
    session.clear()
    session.permanent = True
    session.update(session_values(account))


@web.before_request
def _load_account() -> Any:
    g.account = None
    raw = session.get(SESSION_ACCOUNT_KEY)
    if raw:
        try:
            account = request_session().get(Account, uuid.UUID(raw))
        except (ValueError, TypeError, AttributeError):
            account = None
        if account is not None and session_is_current(account, session):
            g.account = account
            # What the API's access and audit helpers read, and row-level security.
            act_as(request_session(), account.id)
        else:
            session.clear()
    if g.account is None and request.endpoint not in PUBLIC_ENDPOINTS:
        if request.method == "GET" and not wants_json():
            return redirect(url_for("web.sign_in", next=request.full_path.rstrip("?")))
        return error_page(401, "Please sign in.")
    return None


@web.after_request
def _security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "web.static":
        # Pages carry patient data: no shared or back-button caches.
        response.headers["Cache-Control"] = "no-store"
    return response


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_page(status: int, message: str) -> Any:
    if wants_json():
        return {"error": {"message": message}}, status
    return render_template("error.html", status=status, message=message), status


_MESSAGES = {
    400: "The request was not understood.",
    401: "Please sign in.",
    403: "That is not allowed.",
    404: "There is nothing here, or you do not have access to it.",
    405: "That action is not available here.",
    413: "That file is too large.",
}


@web.errorhandler(CSRFError)
def _csrf_error(_exc: CSRFError) -> Any:
    return error_page(400, "This form has expired. Go back, reload the page and try again.")


@web.errorhandler(429)
def _too_many(exc: HTTPException) -> Any:
    retry_after = dict(exc.get_headers()).get("Retry-After", "60")
    minutes = max(1, -(-int(retry_after) // 60))
    wait = "a minute" if minutes == 1 else f"{minutes} minutes"
    body, status = error_page(
        429, f"Too many sign-in attempts. Please wait {wait} before trying again."
    )
    return body, status, {"Retry-After": retry_after}


@web.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    status = exc.code or 500
    return error_page(status, _MESSAGES.get(status, "Something went wrong."))


@web.errorhandler(AuditUnavailable)
def _audit_unavailable(_exc: AuditUnavailable) -> Any:
    return error_page(503, "This cannot be shown right now (it could not be recorded). Try again.")
