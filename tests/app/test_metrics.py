"""Prometheus metrics: read from the database and the broker, never served to the public."""

from __future__ import annotations

import io

from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from tests.support.factories import bearer, make_account, make_profile


def test_metrics_report_documents_queues_and_errors(app, client, db_session, samples) -> None:
    account, token = make_account(db_session)
    profile = make_profile(db_session, account)
    boundary, body = encode_multipart(
        {
            "patient_id": str(profile.id),
            "file": FileStorage(io.BytesIO(samples.read("letter.pdf")), filename="a.pdf"),
        }
    )
    client.post(
        "/api/v1/shell-files",
        data=body,
        headers=bearer(token),
        content_type=f"multipart/form-data; boundary={boundary}",
    )

    response = client.get("/metrics")

    assert response.status_code == 200
    text = response.get_data(as_text=True)
    for name in (
        "shellfile_uploads_total",
        'shellfile_documents{status="uploaded"}',
        'shellfile_queue_depth{lane="fast",source="database"}',
        'shellfile_queue_depth{lane="ai",source="broker"}',
        'shellfile_oldest_pending_job_age_seconds{lane="fast"}',
        "shellfile_stuck_documents",
        "shellfile_stage_duration_seconds",
    ):
        assert name in text, name
    assert "Test Patient" not in text  # counts and stages only, never patient data


def test_metrics_are_not_public(app, client) -> None:
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 404
    original = app.config["SETTINGS"]
    app.config["SETTINGS"] = original.with_overrides({"metrics_token": "scrape-secret"})
    try:
        assert client.get("/metrics").status_code == 404
        assert client.get("/metrics", headers=bearer("wrong")).status_code == 404
        assert client.get("/metrics", headers=bearer("scrape-secret")).status_code == 200
    finally:
        app.config["SETTINGS"] = original
