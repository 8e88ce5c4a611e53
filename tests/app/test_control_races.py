"""Controls decide on a document's state as it is, not as the caller read it (#15).

A view reads the shell file, then acts on it; between the two, another connection (a
worker completing the run, another request archiving) may commit a new state. Each
control reads the row again under a lock, so it cannot write over what the other
committed. The tests play the race with two real connections, one step at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, delete, update
from sqlalchemy.orm import Session

from app.documents import lifecycle
from app.models import Account, ShellFile
from app.runs import enqueue
from tests.support.factories import make_account, make_profile, make_shell_file


@pytest.fixture
def engine(app: Flask) -> Engine:
    return app.extensions["db"].engine


@pytest.fixture
def document(engine: Engine) -> Iterator[dict[str, Any]]:
    """A committed document whose run is under way (its stages queued)."""
    with Session(engine) as session, session.begin():
        account, _ = make_account(session)
        profile = make_profile(session, account)
        shell_file = make_shell_file(session, profile.id, account.id)
        enqueue.enqueue_pipeline(session, shell_file)
        ids = {"shell_file": shell_file.id, "account": account.id}
    yield ids
    with Session(engine) as session, session.begin():
        session.execute(delete(ShellFile).where(ShellFile.id == ids["shell_file"]))
        session.execute(delete(Account).where(Account.id == ids["account"]))


def _commit_elsewhere(engine: Engine, shell_file_id: uuid.UUID, status: str) -> None:
    """What another connection commits meanwhile (a worker, another request)."""
    with Session(engine) as other, other.begin():
        other.execute(update(ShellFile).where(ShellFile.id == shell_file_id).values(status=status))


def _status(engine: Engine, shell_file_id: uuid.UUID) -> str:
    with Session(engine) as session:
        shell_file = session.get(ShellFile, shell_file_id)
        assert shell_file is not None
        return shell_file.status


def test_a_cancel_read_before_the_run_completed_does_not_undo_the_completion(
    app: Flask, engine: Engine, document: dict[str, Any]
) -> None:
    with app.test_request_context(), Session(engine, expire_on_commit=False) as session:
        shell_file = session.get(ShellFile, document["shell_file"])  # the view's read
        assert shell_file is not None and shell_file.status == "uploaded"
        _commit_elsewhere(engine, shell_file.id, "completed")  # the run completes

        with pytest.raises(lifecycle.CannotCancel):
            lifecycle.cancel(session, shell_file, reason="test: cancel")

    assert _status(engine, document["shell_file"]) == "completed"


def test_a_reprocess_read_before_an_archive_does_not_bring_the_document_back(
    app: Flask, engine: Engine, document: dict[str, Any]
) -> None:
    _commit_elsewhere(engine, document["shell_file"], "completed")
    with app.test_request_context(), Session(engine, expire_on_commit=False) as session:
        shell_file = session.get(ShellFile, document["shell_file"])
        assert shell_file is not None and shell_file.status == "completed"
        _commit_elsewhere(engine, shell_file.id, "archived")  # archived meanwhile

        with pytest.raises(lifecycle.CannotReprocess):
            lifecycle.reprocess(
                session, shell_file, account_id=document["account"], reason="test: reprocess"
            )

    assert _status(engine, document["shell_file"]) == "archived"
