"""A token the process verified lately is checked inside the upload's own statement.

`authenticate(deferred=True)` skips the separate token look-up for a token this process
verified within `RECENT_TOKEN_S`; the upload's statement (or, for an upload that takes
several statements, `verify_token`) must then still refuse a token revoked, expired or
whose account was deactivated since, and leave nothing behind.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.access.tokens import hash_token
from app.models import ApiToken, AuditLog, BlobChunk, Job, ShellFile
from tests.support.api import upload
from tests.support.factories import bearer, make_account, make_profile
from tests.support.samples import Samples

BIG = b"%PDF-1.4\n" + bytes(range(256)) * 12_000  # three 1 MiB chunks: not one statement


@pytest.fixture
def owner(db_session: Session):
    account, token = make_account(db_session)
    return account, token, make_profile(db_session, account)


def rows(session: Session) -> tuple[int, ...]:
    return tuple(
        session.scalar(select(func.count()).select_from(model)) or 0
        for model in (ShellFile, BlobChunk, Job, AuditLog)
    )


def spoil(session: Session, account: Any, token: str, how: str) -> None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    assert row is not None
    if how == "revoked":
        row.revoked_at = datetime.now(UTC)
    elif how == "expired":
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    else:
        account.is_active = False
    session.flush()


@pytest.mark.parametrize("how", ["revoked", "expired", "account deactivated"])
@pytest.mark.parametrize(
    ("data", "headers"),
    [(None, {}), (None, {"Idempotency-Key": "k"}), (BIG, {})],
    ids=["one statement", "keyed", "large"],
)
def test_a_token_spoiled_after_use_cannot_upload(
    client: FlaskClient,
    db_session: Session,
    owner,
    samples: Samples,
    how: str,
    data: bytes | None,
    headers: dict[str, str],
) -> None:
    account, token, profile = owner
    assert client.get("/api/v1/profiles", headers=bearer(token)).status_code == 200
    spoil(db_session, account, token, how)
    before = rows(db_session)

    response = upload(
        client, token, profile.id, data or samples.read("letter.pdf"), headers=headers
    )

    assert response.status_code == 401, response.json
    assert rows(db_session) == before
    # Forgotten: the next request is checked up front.
    assert client.get("/api/v1/profiles", headers=bearer(token)).status_code == 401


def test_a_token_seen_lately_costs_the_upload_no_separate_look_up(
    app, client: FlaskClient, db_session: Session, owner, samples: Samples
) -> None:
    _, token, profile = owner
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "api_tokens" in statement:
            statements.append(statement)

    engine = db_session.connection().engine  # the requests' connection (`db_session`)
    event.listen(engine, "before_cursor_execute", record)
    try:
        first = upload(client, token, profile.id, samples.read("letter.pdf"))
        looked_up = len(statements)
        second = upload(client, token, profile.id, samples.read("scan.png"), name="scan.png")
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert (first.status_code, second.status_code) == (201, 201)
    assert looked_up == 2  # the token's own look-up, then its check inside the upload
    assert len(statements) == 3  # the second upload: only the check inside its statement
