"""Document data sent to a remote model leaves an audit row per pass: which service,
document and pass, how many characters and requests, never the text. The AI lane's
stage work runs in-process here against a chat-completions server speaking the real
wire format on 127.0.0.1; the local provider sends nothing and records nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditLog, ShellFile
from app.outputs.ai_lane import DISCLOSURE
from app.pipeline.ai.errors import InvalidAIResponse
from app.pipeline.errors import ApiError
from app.runs.claims import Action, Claim
from tasks.ai import entities_work
from tasks.base import StageContext
from tests.app.pipeline.ai.chat_server import ChatServer
from tests.support.api import upload
from tests.support.factories import make_account, make_profile
from tests.support.processed import process_in_place

MARKER = "Vexlantrope"  # a made-up surname: in the document, never in an audit row


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    server = ChatServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def document(app: Flask, client: FlaskClient, db_session: Session) -> ShellFile:
    """A note taken through the fast lane, ready for Pass 1."""
    account, token = make_account(db_session)
    profile = make_profile(db_session, account)
    note = f"{MARKER} reports no chest pain\nMetformin 500 mg twice daily\n".encode()
    response = upload(client, token, profile.id, note, name="note.txt")
    assert response.status_code == 201, response.json
    return process_in_place(app, db_session, uuid.UUID(response.json["shell_file_id"]))


def pass1_context(app: Flask, shell_file: ShellFile, **settings: object) -> StageContext:
    from tasks.stages import TASKS

    claim = Claim(
        Action.RUN, "", uuid.uuid4(), stage="pass1",
        shell_file_id=shell_file.id, patient_id=shell_file.patient_id,
    )  # fmt: skip
    return StageContext(
        claim=claim,
        db=app.extensions["db"],
        blobs=app.extensions["blobs"],
        settings=app.config["SETTINGS"].with_overrides(settings),
        task=TASKS["pass1"],
    )


def remote(chat: ChatServer) -> dict[str, object]:
    return {
        "ai_provider": "openai",
        "ai_base_url": chat.url,
        "ai_model": "m",
        "ai_api_key": "sk-test",
        "ai_timeout_s": 5.0,
    }


def disclosures(session: Session, shell_file: ShellFile) -> list[AuditLog]:
    return list(
        session.scalars(
            select(AuditLog)
            .where(
                AuditLog.record_id == str(shell_file.id), AuditLog.compliance_category == DISCLOSURE
            )
            .order_by(AuditLog.id)
        )
    )


def test_a_pass_sent_to_a_remote_model_is_audited_without_its_text(
    app: Flask, db_session: Session, document: ShellFile, chat: ChatServer
) -> None:
    chat.reply({"entities": []})
    save = entities_work(pass1_context(app, document, **remote(chat)))
    save(db_session)
    db_session.flush()

    (row,) = disclosures(db_session, document)
    (request,) = chat.requests
    sent = sum(len(message["content"]) for message in request.body["messages"])
    assert MARKER in str(request.body)  # the document did go out...
    host = chat.url.split("/")[2]
    assert row.reason == (
        f"pass1: document data sent to the openai model service at {host}"
        f" ({sent} characters in 1 requests)"
    )
    assert (row.operation, row.table_name, row.patient_id, row.actor_type) == (
        "read", "shell_files", document.patient_id, "system",
    )  # fmt: skip
    assert MARKER not in row.reason  # ...and the audit row says so without it


def test_answers_that_never_fit_are_audited_too(
    app: Flask, db_session: Session, document: ShellFile, chat: ChatServer
) -> None:
    chat.reply("not json")
    chat.reply("still not json")
    with pytest.raises(InvalidAIResponse):
        entities_work(pass1_context(app, document, **remote(chat)))

    (row,) = disclosures(db_session, document)
    assert row.reason.startswith("pass1: document data sent to the openai model service")
    assert row.reason.endswith("in 2 requests)")


def test_a_pass_that_fails_after_its_request_went_out_is_audited(
    app: Flask, db_session: Session, document: ShellFile, chat: ChatServer
) -> None:
    chat.reply(status=500)
    with pytest.raises(ApiError):
        entities_work(pass1_context(app, document, **remote(chat)))

    (row,) = disclosures(db_session, document)
    (request,) = chat.requests
    sent = sum(len(message["content"]) for message in request.body["messages"])
    assert row.reason.endswith(f"({sent} characters in 1 requests)")
    assert MARKER not in row.reason


def test_a_request_that_never_left_this_machine_is_not_audited(
    app: Flask, db_session: Session, document: ShellFile
) -> None:
    nowhere = {  # nothing listens there; a URL and model of this test's own, as the
        # worker keeps one provider per (provider, URL, model)
        "ai_provider": "openai",
        "ai_model": "never-reached",
        "ai_api_key": "sk-test",
        "ai_base_url": "http://127.0.0.1:9/never-reached/v1",
    }
    with pytest.raises(ApiError):
        entities_work(pass1_context(app, document, **nowhere))
    assert disclosures(db_session, document) == []


def test_the_local_provider_sends_nothing_and_records_no_disclosure(
    app: Flask, db_session: Session, document: ShellFile
) -> None:
    save = entities_work(pass1_context(app, document, ai_provider="local"))
    save(db_session)
    db_session.flush()
    assert disclosures(db_session, document) == []
