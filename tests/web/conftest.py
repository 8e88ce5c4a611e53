"""Fixtures of the web app's tests: signed-in test clients and processed documents.

Unit tests run in the rolled-back transaction of `db_session`. Each client comes from
its own made-up address, so the sign-in rate limit (kept in the session's Redis, which
no rollback clears) never carries over from one test to another.
"""

from __future__ import annotations

import io
import itertools
import re
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from app.access.passwords import hash_password
from app.documents.upload import accept_upload
from app.models import Account, Job, ShellFile, UserProfile
from app.outputs import ai_lane, fast_lane
from app.pipeline import layout, ocr, security
from app.pipeline.ai import make_provider
from tests.support.factories import make_account, make_profile

PASSWORD = "correct horse battery staple"
_addresses = itertools.count(1)
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|name="csrf-token" content="([^"]+)"')


def csrf_of(response: TestResponse) -> str:
    match = _CSRF.search(response.get_data(as_text=True))
    assert match, "the page carries no CSRF token"
    return match.group(1) or match.group(2)


@dataclass
class Person:
    account: Account
    token: str
    profile: UserProfile
    client: FlaskClient

    def csrf(self, path: str = "/profiles") -> str:
        return csrf_of(self.client.get(path))


def new_client(app: Flask) -> FlaskClient:
    client = app.test_client()
    n = next(_addresses)
    client.environ_base["REMOTE_ADDR"] = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
    return client


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> TestResponse:
    token = csrf_of(client.get("/sign-in"))
    return client.post("/sign-in", data={"email": email, "password": password, "csrf_token": token})


@pytest.fixture
def make_person(app: Flask, db_session: Session):  # type: ignore[no-untyped-def]
    """Build an account with a password and one profile, signed in on its own client."""

    def make(*, signed_in: bool = True, name: str = "Alex Example") -> Person:
        account, token = make_account(db_session)
        account.password_hash = hash_password(PASSWORD)
        profile = make_profile(db_session, account, name=name)
        db_session.flush()
        person = Person(account, token, profile, new_client(app))
        if signed_in:
            assert sign_in(person.client, account.email).status_code == 302
        return person

    return make


def store_document(
    app: Flask, session: Session, person: Person, data: bytes, name: str = "letter.pdf"
) -> ShellFile:
    """Upload bytes into the person's profile as the API does (nothing is published)."""
    outcome = accept_upload(
        session,
        app.extensions["blobs"],
        account_id=person.account.id,
        profile_id=person.profile.id,
        stream=io.BytesIO(data),
        filename=name,
        priority=5,
        idempotency_key=None,
        chunk_bytes=65536,
    )
    shell_file = session.get(ShellFile, outcome.shell_file.id)
    assert shell_file is not None
    return shell_file


def process_in_place(app: Flask, session: Session, shell_file_id: uuid.UUID) -> ShellFile:
    """Run the real stage functions in-process (born-digital PDFs: no Tesseract) and save
    their output as the tasks do; the shell file ends `completed`. Flushes only."""
    shell_file = session.get(ShellFile, shell_file_id)
    assert shell_file is not None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "document"
        path.write_bytes(b"".join(app.extensions["blobs"].read(session, shell_file.storage_key)))
        report = security.scan(path, security.ScanLimits(), claimed_name="document.pdf")
        fast_lane.save_security_scan(session, shell_file.id, report, None)
        pages = list(ocr.iter_pages(path, report.mime_type, range(1, report.page_count + 1)))
        settings = app.config["SETTINGS"]
        for page in pages:  # the page images, as the worker's OCR draws them
            source = (path, shell_file.storage_key, report.mime_type)
            fast_lane.draw_page_image(
                settings.data_dir, shell_file.id, source, page, settings.max_image_pixels
            )
    for page in pages:
        fast_lane.save_ocr_page(session, shell_file.id, page)
    layouts = [layout.map_page(page) for page in pages]
    fast_lane.save_layouts(session, shell_file.id, layouts, layout.document_text(layouts).text)
    session.flush()
    provider = make_provider("local")
    doc = ai_lane.load_document_text(session, shell_file.id)
    entities, usage = provider.detect_entities(doc)
    ai_lane.save_entities(session, shell_file, entities)
    records, usage = provider.enrich(doc, entities)
    ai_lane.save_records(session, shell_file, records)
    narrative, usage = provider.narrate(records, entities)
    ai_lane.save_narrative(session, shell_file, narrative, usage)
    # The worker completes each stage's job with its output; the scan's is what lets
    # the document's bytes and page images be served (`app.documents.content`).
    session.execute(
        update(Job)
        .where(Job.shell_file_id == shell_file.id, Job.run_number == shell_file.run_number)
        .values(status="completed")
        .execution_options(synchronize_session=False)
    )
    shell_file.status = "completed"
    session.flush()
    return shell_file
