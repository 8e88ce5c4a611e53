"""The Flask application factory.

`create_app(config)` layers the embedded defaults, then the environment
(`Settings.from_env`), then `config` (tests pass overrides here). It wires the
database, the blob store, the Celery app and the dispatcher into
`app.extensions`, and registers the API, the web app and the admin commands.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from app.celery_app import celery_init_app
from app.config import MIB, Settings
from app.db import Database, close_request_session
from app.logs import withhold_foreign_details
from app.runs.dispatch import Dispatcher
from app.storage import Blobs

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    # No log line of this process (Flask's, Celery's, any library's) repeats the message
    # of a library's exception: it may quote document data (`app.logs`).
    withhold_foreign_details()
    if isinstance(config, Settings):
        settings = config
    else:
        settings = Settings.from_env().with_overrides(config or {})
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    app = Flask(__name__)
    if settings.trusted_proxies:
        # The client's address and scheme as the nearest trusted proxies saw them (what
        # audit rows, the sign-in limits and the Secure cookie rely on); with none
        # trusted, a client's own X-Forwarded-* headers are ignored.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    app.config.update(
        SETTINGS=settings,
        TESTING=settings.testing,
        SECRET_KEY=settings.secret_key or None,
        # The multipart envelope around the file may add a little; the file itself is
        # checked against max_upload_bytes once parsed. A larger Content-Length is
        # refused before a byte of the body is read.
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + MIB,
        MAX_FORM_PARTS=64,
    )
    db = Database(
        settings.database_url, pool_size=settings.db_pool_size, pre_ping=settings.db_pre_ping
    )
    app.extensions["db"] = db
    app.extensions["blobs"] = Blobs(settings.blob_storage_url, settings.data_dir)
    celery_app = celery_init_app(app)
    app.extensions["dispatcher"] = Dispatcher(
        celery_app, db, mark_interval=settings.publish_mark_interval_s
    )

    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)
    app.teardown_appcontext(close_request_session)

    from app.api import api
    from app.ops.cli import register_commands
    from app.ops.health import health
    from app.ops.metrics import metrics
    from app.web import init_web

    app.register_blueprint(api)
    app.register_blueprint(health)
    app.register_blueprint(metrics)
    init_web(app, api)
    register_commands(app)
    return app


def _assign_request_id() -> None:
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def _echo_request_id(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "")
    return response
