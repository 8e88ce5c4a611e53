"""Liveness and readiness for load balancers and deploy scripts (no authentication, no data).

`/healthz` answers while the process runs. `/readyz` checks what a request needs: the
database, the broker and the blob store; a failing part is named with a 503.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from app.db import get_db

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")


def _check_database() -> None:
    with get_db().engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _check_broker() -> None:
    current_app.extensions["dispatcher"].forget_epoch()
    current_app.extensions["dispatcher"].epoch()


def _check_blob_store() -> None:
    settings = current_app.config["SETTINGS"]
    if settings.blob_storage_url == "db":
        with get_db().engine.connect() as connection:
            connection.execute(text("SELECT 1 FROM blob_chunks LIMIT 0"))
        return
    root = Path(settings.blob_storage_url.removeprefix("file://"))
    root.mkdir(parents=True, exist_ok=True)
    if not os.access(root, os.W_OK):
        raise PermissionError("the blob folder is not writable")


@health.get("/readyz")
def readyz() -> Any:
    checks: dict[str, str] = {}
    for name, check in (
        ("database", _check_database),
        ("broker", _check_broker),
        ("blob_storage", _check_blob_store),
    ):
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", by name
            checks[name] = f"unavailable ({type(exc).__name__})"
    ready = all(value == "ok" for value in checks.values())
    response = jsonify(status="ready" if ready else "not ready", checks=checks)
    response.status_code = 200 if ready else 503
    return response
