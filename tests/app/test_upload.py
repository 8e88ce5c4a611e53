"""Uploads: row, bytes, jobs and audit commit in one transaction; bad input leaves nothing."""

from __future__ import annotations

import io
import uuid

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import AuditLog, BlobChunk, Job, ShellFile
from app.pipeline import STAGE_NAMES
from app.runs import enqueue
from tests.support.api import upload
from tests.support.factories import bearer, make_account, make_profile, make_shell_file
from tests.support.samples import Samples


@pytest.fixture
def owner(db_session: Session):
    account, token = make_account(db_session)
    profile = make_profile(db_session, account)
    return account, token, profile


def counts(session: Session) -> tuple[int, int, int, int]:
    return (
        session.scalar(select(func.count()).select_from(ShellFile)) or 0,
        session.scalar(select(func.count()).select_from(BlobChunk)) or 0,
        session.scalar(select(func.count()).select_from(Job)) or 0,
        session.scalar(
            select(func.count()).where(
                AuditLog.operation == "create", AuditLog.table_name == "shell_files"
            )
        )
        or 0,
    )


def stored_bytes(client: FlaskClient, session: Session, shell_file: ShellFile) -> bytes:
    blobs = client.application.extensions["blobs"]
    return b"".join(blobs.read(session, shell_file.storage_key))


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("letter.pdf", "application/pdf"),
        ("scan.png", "image/png"),
        ("photo.jpg", "image/jpeg"),
        ("scan.tiff", "image/tiff"),
        ("photo.webp", "image/webp"),
        ("note.txt", "text/plain"),
    ],
)
def test_upload_commits_row_bytes_jobs_and_audit_together(
    client: FlaskClient, db_session: Session, owner, samples: Samples, name: str, mime: str
) -> None:
    account, token, profile = owner
    data = samples.read(name)

    response = upload(client, token, profile.id, data, name=name, priority="3")

    assert response.status_code == 201, response.json
    body = response.json
    assert body["status"] == "uploaded" and body["duplicate"] is False
    assert body["mime_type"] == mime
    assert response.headers["Location"] == f"/api/v1/shell-files/{body['shell_file_id']}"
    shell_file = db_session.get(ShellFile, uuid.UUID(body["shell_file_id"]))
    assert shell_file is not None
    assert (shell_file.patient_id, shell_file.uploaded_by) == (profile.id, account.id)
    assert shell_file.file_size_bytes == len(data) and shell_file.processing_priority == 3
    run = list(
        db_session.scalars(
            select(Job).where(Job.shell_file_id == shell_file.id).order_by(Job.stage_index)
        )
    )
    assert [job.job_type for job in run] == list(STAGE_NAMES)
    assert [job.job_lane for job in run] == ["fast"] * 3 + ["ai"] * 4
    assert run[0].status == "queued" and str(run[0].id) == body["job_id"]
    assert all(job.priority == 3 for job in run)
    audit = db_session.scalars(
        select(AuditLog).where(AuditLog.record_id == str(shell_file.id))
    ).all()
    assert [(row.operation, row.account_id, row.patient_id) for row in audit] == [
        ("create", account.id, profile.id)
    ]
    assert stored_bytes(client, db_session, shell_file) == data
    assert shell_file.mime_type == mime
    # Not served back before the security scan has passed (app.documents.content).
    content = client.get(f"/api/v1/shell-files/{shell_file.id}/content", headers=bearer(token))
    assert content.status_code == 409 and content.json["error"]["code"] == "not_scanned"


def test_an_uploads_jobs_are_the_rows_enqueue_pipeline_makes(
    client: FlaskClient, db_session: Session, owner, samples: Samples
) -> None:
    """On PostgreSQL an upload writes its jobs in its own one statement; they must be the
    rows `enqueue.enqueue_pipeline` (the reprocess path, and the upload's elsewhere) makes."""
    account, token, profile = owner
    body = upload(client, token, profile.id, samples.read("letter.pdf"), priority="4").json
    uploaded = db_session.get(ShellFile, uuid.UUID(body["shell_file_id"]))
    queued = make_shell_file(db_session, profile.id, account.id, processing_priority=4)
    enqueue.enqueue_pipeline(db_session, queued)

    def rows(shell_file: ShellFile) -> list[dict[str, object]]:
        run = db_session.scalars(
            select(Job).where(Job.shell_file_id == shell_file.id).order_by(Job.stage_index)
        )
        out = []
        for job in run:
            row = {c.name: getattr(job, c.key) for c in Job.__table__.columns}
            assert row.pop("celery_task_id") == str(row.pop("id"))
            assert row.pop("shell_file_id") == shell_file.id
            payload = row.pop("job_payload")
            assert payload.pop("shell_file_id") == str(shell_file.id)
            for stamp in ("scheduled_at", "created_at", "updated_at", "published_at"):
                row.pop(stamp)
            out.append(row | {"payload": payload, "broker_epoch": None})
        return out

    assert len(rows(uploaded)) == len(STAGE_NAMES)
    assert rows(uploaded) == rows(queued)


@pytest.mark.parametrize("headers", [{}, {"Idempotency-Key": "archived-1"}], ids=["plain", "keyed"])
def test_an_archived_profile_takes_no_uploads(
    client: FlaskClient, db_session: Session, owner, samples: Samples, headers: dict[str, str]
) -> None:
    """Checked inside the upload's one statement, or before the write when it has a key."""
    _, token, profile = owner
    profile.archived = True
    db_session.flush()
    before = counts(db_session)

    response = upload(client, token, profile.id, samples.read("letter.pdf"), headers=headers)

    assert response.status_code == 409, response.json
    assert response.json["error"]["code"] == "profile_archived"
    assert counts(db_session) == before


def test_upload_is_published_after_commit(
    client: FlaskClient, db_session: Session, owner, samples: Samples
) -> None:
    _, token, profile = owner
    response = upload(client, token, profile.id, samples.read("letter.pdf"))
    head = db_session.get(Job, uuid.UUID(response.json["job_id"]))
    assert head is not None and head.published_at is not None and head.broker_epoch


def test_large_upload_is_stored_in_chunks(
    client: FlaskClient, db_session: Session, owner, app
) -> None:
    _, token, profile = owner
    data = b"%PDF-1.4\n" + bytes(range(256)) * 12_000  # about 3 MB, more than one 1 MiB chunk
    response = upload(client, token, profile.id, data)
    assert response.status_code == 201
    shell_file = db_session.get(ShellFile, uuid.UUID(response.json["shell_file_id"]))
    chunks = db_session.scalar(
        select(func.count()).where(BlobChunk.storage_key == shell_file.storage_key)
    )
    assert chunks == 3
    assert stored_bytes(client, db_session, shell_file) == data


@pytest.mark.parametrize(
    ("sample", "status", "code"),
    [
        ("empty.pdf", 400, "empty_file"),
        ("page.html", 415, "unsupported_type"),
        ("program.exe", 415, "unsupported_type"),
        ("archive.zip", 415, "unsupported_type"),
    ],
)
def test_bad_files_are_refused_and_leave_nothing(
    client: FlaskClient,
    db_session: Session,
    owner,
    samples: Samples,
    sample: str,
    status: int,
    code: str,
) -> None:
    _, token, profile = owner
    before = counts(db_session)
    response = upload(client, token, profile.id, samples.read(sample), name=sample)
    assert response.status_code == status
    assert response.json["error"]["code"] == code
    assert counts(db_session) == before


@pytest.mark.parametrize(
    "text",
    [
        "PAX6 mutations cause aniridia in most of the families studied.\n",  # HP-GL to libmagic
        "%!PS is how the clinic's old printer notes began; this one is a letter.\n",
        "Café au lait macules, six, each over 1.5 cm; axillary freckling.\n",
        "Test,Result,Units\nHbA1c,48,mmol/mol\nGlucose,5.4,mmol/L\nSodium,139,mmol/L\n" * 20,
        "From: Dr A Okafor\nTo: Dr B Lind\nSubject: discharge\n\nStable on metformin.\n",
        ".TH was noted on the ward round; plan unchanged.\nReview in clinic.\n",
        "#include the GP's letter of 3 May with this summary.\nint. review next week\n",
    ],
    ids=[
        "hp-gl guess",
        "postscript guess",
        "utf-8",
        "csv guess",
        "e-mail guess",
        "troff guess",
        "c guess",
    ],
)
def test_plain_text_is_text_whatever_its_first_letters(
    client: FlaskClient, db_session: Session, owner, text: str
) -> None:
    """Text that decodes as UTF-8 with no binary bytes is taken as text/plain, even where
    a magic rule guesses another type from how it begins (#15)."""
    _, token, profile = owner
    response = upload(client, token, profile.id, text.encode(), name="note.txt")
    assert response.status_code == 201, response.json
    shell_file = db_session.get(ShellFile, uuid.UUID(response.json["shell_file_id"]))
    assert shell_file is not None and shell_file.mime_type == "text/plain"


def test_missing_file_field_is_400(client: FlaskClient, owner) -> None:
    _, token, profile = owner
    response = client.post(
        "/api/v1/shell-files",
        data={"patient_id": str(profile.id)},
        headers=bearer(token),
        content_type="multipart/form-data",
    )
    assert response.status_code == 400 and "file" in response.json["error"]["message"]


@pytest.mark.parametrize("patient_id", ["not-a-uuid", "", "1; DROP TABLE shell_files"])
def test_malformed_patient_id_is_400(
    client: FlaskClient, owner, samples: Samples, patient_id
) -> None:
    _, token, _ = owner
    response = upload(client, token, patient_id, samples.read("letter.pdf"))
    assert response.status_code == 400


def test_unknown_profile_is_404(client: FlaskClient, owner, samples: Samples) -> None:
    _, token, _ = owner
    response = upload(client, token, uuid.uuid4(), samples.read("letter.pdf"))
    assert response.status_code == 404


@pytest.mark.parametrize("priority", ["0", "11", "high", "-1"])
def test_bad_priority_is_400(client: FlaskClient, owner, samples: Samples, priority: str) -> None:
    _, token, profile = owner
    response = upload(client, token, profile.id, samples.read("letter.pdf"), priority=priority)
    assert response.status_code == 400


def test_oversized_upload_is_refused_before_the_body_is_read(
    app, client: FlaskClient, owner
) -> None:
    _, token, _ = owner
    limit = app.config["MAX_CONTENT_LENGTH"]
    total = limit + 10 * 1024 * 1024

    class CountingStream(io.RawIOBase):
        """A body of `total` zero bytes that counts how much of it the server read."""

        def __init__(self) -> None:
            self.position = 0
            self.read_bytes = 0

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return True

        def seek(self, offset: int, whence: int = 0) -> int:
            self.position = total + offset if whence == 2 else offset
            return self.position

        def tell(self) -> int:
            return self.position

        def readinto(self, buffer) -> int:
            n = max(0, min(len(buffer), total - self.position))
            buffer[:n] = b"\0" * n
            self.position += n
            self.read_bytes += n
            return n

    stream = CountingStream()
    response = client.post(
        "/api/v1/shell-files",
        input_stream=stream,
        headers=bearer(token) | {"Content-Length": str(total)},
        content_type="multipart/form-data; boundary=x",
    )
    assert response.status_code == 413
    assert response.json["error"]["code"] == "request_entity_too_large"
    assert stream.read_bytes < 1024 * 1024  # refused on the header, not after buffering


def test_file_over_the_limit_within_the_envelope_is_413(
    app, client: FlaskClient, db_session, owner
) -> None:
    _, token, profile = owner
    limit = app.config["SETTINGS"].max_upload_bytes
    app.config["SETTINGS"] = app.config["SETTINGS"].with_overrides({"max_upload_bytes": 1000})
    try:
        before = counts(db_session)
        response = upload(client, token, profile.id, b"%PDF-1.4\n" + b"0" * 2000)
    finally:
        app.config["SETTINGS"] = app.config["SETTINGS"].with_overrides({"max_upload_bytes": limit})
    assert response.status_code == 413
    assert counts(db_session) == before


def test_client_filename_is_data_not_a_path(
    client: FlaskClient, db_session: Session, owner, samples: Samples
) -> None:
    _, token, profile = owner
    name = "../../etc/passwd\x07\t.pdf"
    response = upload(client, token, profile.id, samples.read("letter.pdf"), name=name)
    assert response.status_code == 201
    shell_file = db_session.get(ShellFile, uuid.UUID(response.json["shell_file_id"]))
    assert shell_file.original_filename == "../../etc/passwd.pdf"
    assert shell_file.storage_key == f"db:{shell_file.id}"


@pytest.mark.parametrize("with_bytes", [False, True])
def test_the_upload_statement_stays_inside_psycopgs_parse_cache(with_bytes: bool) -> None:
    """Past these limits psycopg parses the statement again at every upload (~0.4 ms)."""
    from psycopg import _queries
    from sqlalchemy.dialects import postgresql

    from app.documents.statement import NEW_DOCUMENT, NEW_DOCUMENT_WITH_BYTES

    statement = NEW_DOCUMENT_WITH_BYTES if with_bytes else NEW_DOCUMENT
    compiled = statement.compile(dialect=postgresql.psycopg.dialect())
    assert len(str(compiled).encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH
    assert len(compiled.params) <= _queries.MAX_CACHED_STATEMENT_PARAMS
