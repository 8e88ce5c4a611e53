"""The web app people use: sign in, choose a profile, upload, watch both lanes, read results.

Server-rendered pages (Jinja templates, autoescaped) with a little plain JavaScript.
`init_web(app, api)` registers the blueprint and what guards it:

- a signed session cookie, HttpOnly, SameSite=Lax, Secure unless the setting turns it
  off (plain http on a developer's machine, or tests);
- CSRF tokens on every POST (forms carry a field, script sends the X-CSRFToken
  header); the API is exempt, as it authenticates by bearer token, never by cookie;
- rate limits on sign-in (every attempt per address and email; failures per account and
  across the service), kept in the broker's Redis so every web process shares them;
- a Content-Security-Policy that allows no inline script or style.

Access is the API's: the same `accessible_profile` rules (denied looks like missing,
404), and every page that shows patient data commits its audit row first.
"""

from __future__ import annotations

import os
import secrets
import uuid
from datetime import timedelta
from pathlib import Path

from flask import Blueprint, Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

from app.config import Settings
from app.quotas import limits_storage_uri
from app.ratelimit import SignInLimits
from app.web import documents, record, search, uploads, views
from app.web.blueprint import web

__all__ = ["documents", "init_web", "record", "search", "uploads", "views", "web"]


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
    storage_uri = limits_storage_uri(str(app.extensions["celery"].conf.broker_url))
    app.extensions["signin_limits"] = SignInLimits(
        storage_uri,
        per_account=settings.signin_account_limit,
        overall=settings.signin_global_limit,
    )
    limiter = app.extensions["web_limiter"] = Limiter(
        get_remote_address,
        app=app,
        storage_uri=storage_uri,
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
    """Without SECRET_KEY, one kept under DATA_DIR, so every local process signs alike.

    The file is created readable by this user alone (0600) from its first byte: never
    written under the umask's mode and narrowed afterwards."""
    path = data_dir / "secret_key"
    if not path.exists():
        partial = path.with_name(f"secret_key.{uuid.uuid4().hex}")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as out:
                out.write(secrets.token_urlsafe(48))
            # A hard link never replaces: when processes start together, the first wins.
            path.hardlink_to(partial)
        except FileExistsError:
            pass
        finally:
            partial.unlink(missing_ok=True)
    return path.read_text().strip()
