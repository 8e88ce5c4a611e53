"""Per-account allowances: uploads and reprocesses past them are refused with 429 and
Retry-After, nothing stored or queued; a broker outage skips the count, never the upload."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Job, ShellFile
from app.quotas import QuotaExceeded, Quotas, limits_storage_uri
from tests.support.api import upload
from tests.support.factories import bearer, make_account, make_profile, make_shell_file
from tests.support.samples import text_pdf


@pytest.fixture
def tight(app: Flask) -> Iterator[Quotas]:
    """Allowances of two uploads and one reprocess an hour, for this test only."""
    broker = str(app.extensions["celery"].conf.broker_url)
    tight = Quotas(limits_storage_uri(broker), {"upload": "2 per hour", "reprocess": "1 per hour"})
    earlier = app.extensions.get("quotas")
    app.extensions["quotas"] = tight
    yield tight
    if earlier is None:
        app.extensions.pop("quotas")
    else:
        app.extensions["quotas"] = earlier


def _documents(session: Session, profile_id: object) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(ShellFile).where(ShellFile.patient_id == profile_id)
        )
        or 0
    )


def test_uploads_past_the_allowance_are_refused_with_nothing_stored(
    client: FlaskClient, db_session: Session, tight: Quotas
) -> None:
    account, token = make_account(db_session)
    profile = make_profile(db_session, account)
    answers = [
        upload(client, token, profile.id, text_pdf([f"quota {n}"]), name=f"{n}.pdf")
        for n in range(3)
    ]

    assert [a.status_code for a in answers] == [201, 201, 429]
    refused = answers[2]
    assert refused.json["error"]["code"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert _documents(db_session, profile.id) == 2

    # Another account has its own allowance.
    other, other_token = make_account(db_session)
    other_profile = make_profile(db_session, other)
    again = upload(client, other_token, other_profile.id, text_pdf(["quota other"]))
    assert again.status_code == 201


def test_reprocesses_past_the_allowance_are_refused_and_queue_nothing(
    client: FlaskClient, db_session: Session, tight: Quotas
) -> None:
    account, token = make_account(db_session)
    profile = make_profile(db_session, account)
    first = make_shell_file(db_session, profile.id, account.id, status="failed")
    second = make_shell_file(db_session, profile.id, account.id, status="failed")

    ok = client.post(f"/api/v1/shell-files/{first.id}/reprocess", headers=bearer(token))
    refused = client.post(f"/api/v1/shell-files/{second.id}/reprocess", headers=bearer(token))

    assert ok.status_code == 202
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    jobs = db_session.scalar(select(func.count()).where(Job.shell_file_id == second.id))
    assert jobs == 0
    db_session.refresh(second)
    assert second.status == "failed"


def test_a_broker_outage_skips_the_count_and_keeps_the_upload(
    client: FlaskClient, db_session: Session, app: Flask, redis_server
) -> None:
    broker = str(app.extensions["celery"].conf.broker_url)
    quotas = Quotas(limits_storage_uri(broker), {"upload": "1 per hour"})
    account, token = make_account(db_session)
    profile = make_profile(db_session, account)
    earlier = app.extensions.get("quotas")
    app.extensions["quotas"] = quotas
    redis_server.stop()
    try:
        answers = [
            upload(client, token, profile.id, text_pdf([f"outage {n}"]), name=f"{n}.pdf")
            for n in range(2)
        ]
    finally:
        redis_server.start()
        app.extensions["quotas"] = earlier
    assert [a.status_code for a in answers] == [201, 201]


def test_unlimited_counts_nothing() -> None:
    quotas = Quotas("memory://", {"upload": "unlimited", "reprocess": "1 per hour"})
    account = uuid.uuid4()
    for _ in range(5):
        quotas.take("upload", account)
    quotas.take("reprocess", account)
    with pytest.raises(QuotaExceeded) as exceeded:
        quotas.take("reprocess", account)
    assert exceeded.value.retry_after > 0
