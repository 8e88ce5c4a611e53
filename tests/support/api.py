"""Calling the API from tests."""

from __future__ import annotations

import io

from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from tests.support.factories import bearer


def upload(
    client: FlaskClient,
    token: str,
    patient_id: object,
    data: bytes,
    name: str = "doc.pdf",
    headers: dict[str, str] | None = None,
    **form: str,
) -> TestResponse:
    """POST a multipart upload, encoded in memory (werkzeug's test client would spool a
    large body to a temporary file it never closes)."""
    fields = {
        "patient_id": str(patient_id),
        "file": FileStorage(io.BytesIO(data), filename=name),
        **form,
    }
    boundary, body = encode_multipart(fields)
    return client.post(
        "/api/v1/shell-files",
        data=body,
        headers=bearer(token) | (headers or {}),
        content_type=f"multipart/form-data; boundary={boundary}",
    )
