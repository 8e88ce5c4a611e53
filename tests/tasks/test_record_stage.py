"""The record stage on the session's real worker: a run ends by merging the document into
its profile's record, and a second delivery of that stage changes nothing."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from app.models import RecordEntry, RecordMention, ShellFile
from app.outputs import record
from tests.support.api import upload
from tests.support.factories import bearer, make_account, make_profile
from tests.support.pipeline import jobs_of, wait_for_status
from tests.support.samples import text_pdf

pytestmark = pytest.mark.usefixtures("worker")


def test_a_completed_run_has_merged_the_document_into_the_record(app) -> None:
    with app.extensions["db"].session() as session:
        account, token = make_account(session)
        profile = make_profile(session, account)
    lines = ["Laboratory report", "Date of report: 02/04/2024", "Results: HbA1c 51 mmol/mol",
             "Medications: Metformin 500 mg twice daily"]  # fmt: skip
    response = upload(app.test_client(), token, profile.id, text_pdf(lines), name="lab.pdf")
    assert response.status_code == 201, response.json
    shell_file = wait_for_status(app, uuid.UUID(response.json["shell_file_id"]), timeout=90)

    assert shell_file.status == "completed"
    assert [(j.job_type, j.job_lane, j.status) for j in jobs_of(app, shell_file.id)][-1] == (
        "record",
        "ai",
        "completed",
    )
    body = (
        app.test_client().get(f"/api/v1/profiles/{profile.id}/record", headers=bearer(token)).json
    )
    assert [m["name"].lower() for m in body["medications"]] == ["metformin"]
    assert [(o["key"], o["latest"]["value"]) for o in body["observations"]] == [("59261-8", 51)]

    # At least once: the stage's work done again replaces, never adds.
    def counts() -> tuple[int, int]:
        with app.extensions["db"].session() as session:
            return (
                session.scalar(select(func.count()).select_from(RecordMention)
                               .where(RecordMention.patient_id == profile.id)) or 0,
                session.scalar(select(func.count()).select_from(RecordEntry)
                               .where(RecordEntry.patient_id == profile.id)) or 0,
            )  # fmt: skip

    before = counts()
    with app.extensions["db"].session() as session:
        again = session.get(ShellFile, shell_file.id)
        assert again is not None
        record.refresh_document(session, again)
    assert counts() == before == (2, 2)
