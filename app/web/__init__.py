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

from flask import Blueprint, Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

from app.config import Settings
from app.web import documents, record, uploads, views
from app.web.blueprint import web

__all__ = ["documents", "init_web", "record", "uploads", "views", "web"]


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
