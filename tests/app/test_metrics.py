"""Prometheus metrics: read from the database and the broker, never served to the public."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from app.config import ConfigError, Settings
from tests.support.factories import bearer, make_account, make_profile

SCRAPE_TOKEN = "scrape-secret-0123456789"


@contextmanager
def metrics_token(app: Flask, value: str) -> Iterator[None]:
    original = app.config["SETTINGS"]
    app.config["SETTINGS"] = original.with_overrides({"metrics_token": value})
    try:
        yield
    finally:
        app.config["SETTINGS"] = original


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

    with metrics_token(app, SCRAPE_TOKEN):
        response = client.get("/metrics", headers=bearer(SCRAPE_TOKEN))

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


def test_metrics_need_the_token_even_from_loopback(app, client) -> None:
    loopback = {"REMOTE_ADDR": "127.0.0.1"}  # what a reverse proxy on this machine looks like
    assert app.config["SETTINGS"].metrics_token == ""
    assert client.get("/metrics", environ_base=loopback).status_code == 404  # unset: nobody
    with metrics_token(app, SCRAPE_TOKEN):
        assert client.get("/metrics", environ_base=loopback).status_code == 404
        assert client.get("/metrics", headers=bearer("wrong")).status_code == 404
        assert client.get("/metrics", headers={"Authorization": SCRAPE_TOKEN}).status_code == 404
        assert client.get("/metrics", headers=bearer(SCRAPE_TOKEN)).status_code == 200


def test_metrics_are_open_only_when_explicitly_disabled(app, client) -> None:
    with metrics_token(app, "disabled"):
        outside = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
        assert outside.status_code == 200


def test_a_short_metrics_token_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigError, match="METRICS_TOKEN"):
        Settings.from_env({"METRICS_TOKEN": "short"})
    assert Settings.from_env({"METRICS_TOKEN": "disabled"}).metrics_token == "disabled"
