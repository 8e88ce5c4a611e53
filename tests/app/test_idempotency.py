"""Retried and repeated uploads: an Idempotency-Key replays the first answer; identical
bytes into one profile are one document; anything else is a new document."""

from __future__ import annotations

import uuid

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import BlobChunk, Job, ShellFile
from tests.support.api import upload
from tests.support.factories import grant, make_account, make_profile
from tests.support.samples import Samples

KEY = "retry-7f3c2a"


@pytest.fixture
def owner(db_session: Session):
    account, token = make_account(db_session)
    profile = make_profile(db_session, account)
    return account, token, profile


def row_counts(session: Session) -> tuple[int, int, int]:
    """Shell files, blob chunks and jobs: what a new upload would add."""
    return (
        session.scalar(select(func.count()).select_from(ShellFile)) or 0,
        session.scalar(select(func.count()).select_from(BlobChunk)) or 0,
        session.scalar(select(func.count()).select_from(Job)) or 0,
    )


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def test_same_key_same_bytes_replays_the_first_answer(
    client: FlaskClient, db_session: Session, owner, samples: Samples
) -> None:
    _, token, profile = owner
    data = samples.read("letter.pdf")
    first = upload(client, token, profile.id, data, headers=keyed(KEY))
    assert first.status_code == 201
    before = row_counts(db_session)

    again = upload(client, token, profile.id, data, headers=keyed(KEY))

    assert again.status_code == 200, again.json
    assert again.json["shell_file_id"] == first.json["shell_file_id"]
    assert again.json["job_id"] == first.json["job_id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert row_counts(db_session) == before


def test_same_key_with_other_bytes_is_a_conflict(
    client: FlaskClient, db_session: Session, owner, samples: Samples
) -> None:
    _, token, profile = owner
    first = upload(client, token, profile.id, samples.read("letter.pdf"), headers=keyed(KEY))
    assert first.status_code == 201
    before = row_counts(db_session)

    other = upload(client, token, profile.id, samples.read("other.pdf"), headers=keyed(KEY))

    assert other.status_code == 409
    assert other.json["error"]["code"] == "idempotency_conflict"
    assert first.json["shell_file_id"] not in other.get_data(as_text=True)
    assert row_counts(db_session) == before


def test_same_key_and_bytes_into_another_profile_is_a_conflict(
    client: FlaskClient, db_session: Session, owner, samples: Samples
) -> None:
    account, token, profile = owner
    second_profile = make_profile(db_session, account, profile_type="child", name="Second")
    data = samples.read("letter.pdf")
    assert upload(client, token, profile.id, data, headers=keyed(KEY)).status_code == 201
    before = row_counts(db_session)

    other = upload(client, token, second_profile.id, data, headers=keyed(KEY))

    assert other.status_code == 409
    assert other.json["error"]["code"] == "idempotency_conflict"
    assert row_counts(db_session) == before


def test_same_key_from_another_account_is_independent(
    client: FlaskClient, db_session: Session, owner, samples: Samples
) -> None:
    _, token, profile = owner
    data = samples.read("letter.pdf")
    first = upload(client, token, profile.id, data, headers=keyed(KEY))
    other_account, other_token = make_account(db_session)
    other_profile = make_profile(db_session, other_account)

    other = upload(client, other_token, other_profile.id, data, headers=keyed(KEY))

    assert (first.status_code, other.status_code) == (201, 201), other.json
    assert other.json["shell_file_id"] != first.json["shell_file_id"]
    assert other.json["patient_id"] == str(other_profile.id)


def test_same_key_from_a_grantee_into_the_same_profile_is_independent(
    client: FlaskClient, db_session: Session, owner, samples: Samples
) -> None:
    _, token, profile = owner
    first = upload(client, token, profile.id, samples.read("letter.pdf"), headers=keyed(KEY))
    grantee, grantee_token = make_account(db_session)
    grant(db_session, profile, grantee, "read_write")

    other = upload(client, grantee_token, profile.id, samples.read("other.pdf"), headers=keyed(KEY))

    assert (first.status_code, other.status_code) == (201, 201), other.json
    assert other.json["shell_file_id"] != first.json["shell_file_id"]
    stored = db_session.get(ShellFile, uuid.UUID(other.json["shell_file_id"]))
    assert stored is not None and stored.uploaded_by == grantee.id


def test_identical_bytes_into_the_same_profile_are_one_document(
    client: FlaskClient, db_session: Session, owner, samples: Samples
) -> None:
    _, token, profile = owner
    data = samples.read("scan.png")
    first = upload(client, token, profile.id, data, name="scan.png")
    before = row_counts(db_session)

    again = upload(client, token, profile.id, data, name="scan-again.png")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["duplicate"] is True
    assert again.json["shell_file_id"] == first.json["shell_file_id"]
    assert row_counts(db_session) == before


def test_identical_bytes_with_a_fresh_key_are_still_one_document(
    client: FlaskClient, db_session: Session, owner, samples: Samples
) -> None:
    _, token, profile = owner
    data = samples.read("scan.png")
    first = upload(client, token, profile.id, data, headers=keyed("first-key"))
    before = row_counts(db_session)

    again = upload(client, token, profile.id, data, headers=keyed("second-key"))

    assert again.status_code == 200
    assert again.json["duplicate"] is True
    assert again.json["shell_file_id"] == first.json["shell_file_id"]
    assert row_counts(db_session) == before


def test_identical_bytes_into_another_profile_are_a_new_document(
    client: FlaskClient, db_session: Session, owner, samples: Samples
) -> None:
    account, token, profile = owner
    child = make_profile(db_session, account, profile_type="child", name="Child")
    data = samples.read("scan.png")
    first = upload(client, token, profile.id, data)
    before = row_counts(db_session)

    other = upload(client, token, child.id, data)

    assert (first.status_code, other.status_code) == (201, 201)
    assert other.json["duplicate"] is False
    assert other.json["shell_file_id"] != first.json["shell_file_id"]
    assert other.json["patient_id"] == str(child.id)
    shell_files, chunks, jobs = row_counts(db_session)
    assert shell_files == before[0] + 1 and chunks > before[1] and jobs > before[2]
