"""The upload baseline: a bare Flask endpoint that takes the same multipart upload and
commits one row (with the file's bytes) to PostgreSQL: no auth, sniffing, hashing, jobs,
audit or broker. One psycopg connection per thread.
"""

from __future__ import annotations

import os
import threading
import uuid
from typing import Any

import psycopg
from flask import Flask, jsonify, request

TABLE_DDL = """
CREATE TABLE IF NOT EXISTS bare_uploads (
    id uuid PRIMARY KEY,
    patient_id uuid NOT NULL,
    filename text NOT NULL,
    size_bytes bigint NOT NULL,
    data bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""


def create_app() -> Flask:
    app = Flask(__name__)
    dsn = os.environ["DATABASE_URL"]
    app.config["MAX_CONTENT_LENGTH"] = 51 * 1024 * 1024
    local = threading.local()

    def connection() -> psycopg.Connection[Any]:
        conn = getattr(local, "conn", None)
        if conn is None or conn.closed:
            conn = psycopg.connect(dsn)
            local.conn = conn
        return conn

    @app.post("/api/v1/shell-files")
    def upload() -> Any:
        upload = request.files.get("file")
        if upload is None:
            return jsonify(error="a multipart field named 'file' is required"), 400
        patient_id = uuid.UUID(request.form["patient_id"])
        data = upload.read()
        row_id = uuid.uuid4()
        conn = connection()
        with conn.transaction():
            conn.execute(
                "INSERT INTO bare_uploads (id, patient_id, filename, size_bytes, data)"
                " VALUES (%s, %s, %s, %s, %s)",
                (row_id, patient_id, upload.filename or "upload", len(data), data),
            )
        return jsonify(id=str(row_id), file_size_bytes=len(data)), 201

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(ok=True)

    return app
