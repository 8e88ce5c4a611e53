"""The web app people use: sign in, choose a profile, upload, watch both lanes, read results.

Server-rendered pages (Jinja templates, autoescaped) with a little plain JavaScript.
`init_web(app, api)` registers the blueprint and what guards it:

- a signed session cookie, HttpOnly, SameSite=Lax, Secure unless the setting turns it
  off (plain http on a developer's machine, or tests);
- CSRF tokens on every POST (forms carry a field, script sends the X-CSRFToken
  header); the API is exempt, as it authenticates by bearer token, never by cookie;
- a rate limit on sign-in, kept in the broker's Redis so every web process shares it;
- a Content-Security-Policy that allows no inline script or style.

Access is the API's: the same `accessible_profile` rules (denied looks like missing,
404), and every page that shows patient data commits its audit row first.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from app.audit import AuditUnavailable
from app.config import Settings
from app.db import request_session
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


def init_web(app: Flask, api: Blueprint) -> None:
    """Register the web blueprint with its session, CSRF and sign-in rate limit."""
    settings: Settings = app.config["SETTINGS"]
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _local_secret_key(settings.data_dir)
    app.config.update(
        SESSION_COOKIE_NAME="sfp_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure and not settings.testing,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_lifetime_s),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        WTF_CSRF_SSL_STRICT=settings.session_cookie_secure and not settings.testing,
    )
    csrf = CSRFProtect(app)
    csrf.exempt(api)
    limiter = app.extensions["web_limiter"] = Limiter(
        get_remote_address,
        app=app,
        storage_uri=_limiter_storage(str(app.extensions["celery"].conf.broker_url)),
        storage_options={"socket_connect_timeout": 1, "socket_timeout": 2},
        swallow_errors=True,  # a Redis outage must not lock everyone out
        in_memory_fallback_enabled=True,
        key_prefix="sfp-web",
    )

    @limiter.request_filter
    def _only_sign_in_is_limited() -> bool:
        # Flask-Limiter looks at every request; only sign-in has a limit (its own
        # `with limiter.limit(...)`), so every other request (an upload, say) skips the
        # look-up of limits it does not have.
        return request.endpoint != "web.sign_in"

    app.register_blueprint(web)


def _local_secret_key(data_dir: Path) -> str:
    """Without SECRET_KEY, one kept under DATA_DIR, so every local process signs alike."""
    path = data_dir / "secret_key"
    if not path.exists():
        partial = path.with_name(f"secret_key.{uuid.uuid4().hex}")
        partial.write_text(secrets.token_urlsafe(48))
        partial.chmod(0o600)
        try:
            # A hard link never replaces: when processes start together, the first wins.
            path.hardlink_to(partial)
        except FileExistsError:
            pass
        finally:
            partial.unlink(missing_ok=True)
    return path.read_text().strip()


def _limiter_storage(broker_url: str) -> str:
    """The limits library's name for the broker's Redis; memory for anything else."""
    if broker_url.startswith("redis+socket://"):
        return "redis+unix://" + broker_url.removeprefix("redis+socket://")
    if broker_url.startswith(("redis://", "rediss://")):
        return broker_url
    return "memory://"


def sign_in_account(account: Account) -> None:
    """Start a fresh session for the account (a new cookie: no fixation)."""
    session.clear()
    session.permanent = True
    session["account_id"] = str(account.id)
    session["pw"] = password_marker(account)


def password_marker(account: Account) -> str:
    """A short tag of the password hash: changing the password ends every session."""
    return (account.password_hash or "")[-12:]


@web.before_request
def _load_account() -> Any:
    g.account = None
    raw = session.get("account_id")
    if raw:
        try:
            account = request_session().get(Account, uuid.UUID(raw))
        except ValueError:
            account = None
        if account and account.is_active and session.get("pw") == password_marker(account):
            g.account = account
            g.account_id = account.id  # what the API's access and audit helpers read
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
    body, status = error_page(
        429, "Too many sign-in attempts. Please wait a minute before trying again."
    )
    return body, status, {"Retry-After": "60"}


@web.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    status = exc.code or 500
    return error_page(status, _MESSAGES.get(status, "Something went wrong."))


@web.errorhandler(AuditUnavailable)
def _audit_unavailable(_exc: AuditUnavailable) -> Any:
    return error_page(503, "This cannot be shown right now (it could not be recorded). Try again.")


from app.web import documents, uploads, views  # noqa: E402, F401 - registers the routes
