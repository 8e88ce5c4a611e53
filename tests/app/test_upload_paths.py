"""Every way an upload can be stored keeps the same rules and writes the same rows.

`accept_upload` takes one of several paths: on PostgreSQL a file of one chunk kept in the
database is one statement that checks access itself; a keyed upload, a file of several
chunks and a file kept on disk check access first, then write; on SQLite (the embedded
default) every upload goes step by step. Each path must let in exactly the callers the
access rule lets in, and write the job rows `enqueue_pipeline` writes.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound

from app.db import Database
from app.documents.upload import UploadRefused, accept_upload
from app.models import Job, ShellFile, UserProfile
from app.runs import enqueue
from app.storage import Blobs
from tests.support.factories import grant, make_account, make_profile, make_shell_file
from tests.support.services import migrate

CHUNK = 4096
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Path_:
    """One way through `accept_upload`: where it runs and what makes it take that way."""

    name: str
    database: str  # "postgresql" or "sqlite"
    store: str  # "db" or "file"
    size: int
    keyed: bool


PATHS = [
    Path_("one statement", "postgresql", "db", 1000, keyed=False),
    Path_("keyed", "postgresql", "db", 1000, keyed=True),
    Path_("several chunks", "postgresql", "db", 3 * CHUNK + 1, keyed=False),
    Path_("file store", "postgresql", "file", 1000, keyed=False),
    Path_("sqlite", "sqlite", "db", 1000, keyed=False),
    Path_("sqlite, several chunks", "sqlite", "db", 3 * CHUNK + 1, keyed=False),
]

#: Who uploads, and what the access rule answers: stored, no such profile (404), or
#: refused because the profile is archived (409).
CALLERS = {
    "owner": "stored",
    "grant read_only": "404",
    "grant read_write": "stored",
    "grant full_access": "stored",
    "grant revoked": "404",
    "grant expired": "404",
    "grant expiring tomorrow": "stored",
    "stranger": "404",
    "owner, archived profile": "409",
}


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'upload-paths.db'}"
    migrate(url)
    db = Database(url)
    yield db
    db.engine.dispose()


@pytest.fixture
def session_for(db_session: Session, sqlite_db: Database) -> Iterator[Any]:
    opened: list[Session] = []

    def session(database: str) -> Session:
        if database == "postgresql":
            return db_session
        s = sqlite_db.sessionmaker()
        opened.append(s)
        return s

    yield session
    for s in opened:
        s.close()


def _caller(session: Session, who: str) -> tuple[uuid.UUID, UserProfile]:
    """The uploading account and the profile it uploads into, set up as `who` says."""
    owner, _ = make_account(session)
    profile = make_profile(session, owner)
    if who.startswith("owner"):
        profile.archived = who.endswith("archived profile")
        session.flush()
        return owner.id, profile
    uploader, _ = make_account(session)
    now = datetime.now(UTC)
    kinds: dict[str, dict[str, Any]] = {
        "grant revoked": {"level": "read_write", "revoked_at": now - DAY},
        "grant expired": {"level": "read_write", "expires_at": now - DAY},
        "grant expiring tomorrow": {"level": "read_write", "expires_at": now + DAY},
    }
    if who in kinds:
        options = kinds[who]
        grant(session, profile, uploader, options.pop("level"), **options)
    elif who.startswith("grant "):
        grant(session, profile, uploader, who.removeprefix("grant "))
    return uploader.id, profile


def _upload(
    app: Flask, session: Session, path: Path_, account_id: uuid.UUID, profile_id: uuid.UUID
) -> Any:
    data = f"%PDF-1.4\n% {uuid.uuid4()}\n".encode().ljust(path.size, b"x")
    blobs = Blobs("db" if path.store == "db" else f"file://{app.config['TEST_TMP']}", Path())
    with app.test_request_context():
        g.account_id = account_id
        return accept_upload(
            session,
            blobs,
            account_id=account_id,
            profile_id=profile_id,
            stream=io.BytesIO(data),
            filename="paths.pdf",
            priority=5,
            idempotency_key=f"key-{uuid.uuid4()}" if path.keyed else None,
            chunk_bytes=CHUNK,
        )


def _answer(app: Flask, session: Session, path: Path_, who: str) -> str:
    account_id, profile = _caller(session, who)
    session.commit()
    try:
        outcome = _upload(app, session, path, account_id, profile.id)
    except NotFound:
        return "404"
    except UploadRefused as refused:
        return str(refused.status)
    assert outcome.created
    return "stored"


@pytest.fixture
def upload_app(app: Flask, tmp_path: Path) -> Iterator[Flask]:
    app.config["TEST_TMP"] = str(tmp_path)
    yield app
    app.config.pop("TEST_TMP", None)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_every_upload_path_keeps_the_access_rule(
    upload_app: Flask, session_for: Any, path: Path_
) -> None:
    """The access matrix of the upload, on every path: the same callers get in."""
    session = session_for(path.database)
    answers = {who: _answer(upload_app, session, path, who) for who in CALLERS}
    assert answers == CALLERS


def _job_rows(session: Session, shell_file: ShellFile) -> list[dict[str, Any]]:
    """A run's job rows without what differs from one document or moment to the next."""
    out = []
    jobs = session.scalars(
        select(Job).where(Job.shell_file_id == shell_file.id).order_by(Job.stage_index)
    )
    for job in jobs:
        row = {c.name: getattr(job, c.key) for c in Job.__table__.columns}
        assert row.pop("celery_task_id") == str(row.pop("id"))
        assert row.pop("shell_file_id") == shell_file.id
        assert row.pop("patient_id") == shell_file.patient_id
        payload = row.pop("job_payload")
        assert payload.pop("shell_file_id") == str(shell_file.id)
        assert payload.pop("patient_id") == str(shell_file.patient_id)
        for stamp in ("scheduled_at", "created_at", "updated_at"):
            assert row.pop(stamp) is not None
        out.append(row | {"payload": payload})
    return out


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_every_upload_path_writes_the_rows_enqueue_pipeline_writes(
    upload_app: Flask, session_for: Any, path: Path_
) -> None:
    session = session_for(path.database)
    account_id, profile = _caller(session, "owner")
    session.commit()
    outcome = _upload(upload_app, session, path, account_id, profile.id)
    reference = make_shell_file(session, profile.id, account_id, processing_priority=5)
    enqueue.enqueue_pipeline(session, reference)
    session.flush()
    uploaded = _job_rows(session, outcome.shell_file)
    assert [row["stage_index"] for row in uploaded] == list(range(len(uploaded)))
    assert uploaded == _job_rows(session, reference)
