"""A document's bytes, and its page images, are served only once the security scan
passed (#14, item 1): a quarantined file answers 409 with its reason, on the API and in
the web app, even after it is archived; a clean one is served."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.access.passwords import hash_password
from tests.support.api import upload
from tests.support.documents import Corpus
from tests.support.factories import bearer, make_account, make_profile
from tests.support.pipeline import wait_for_status
from tests.web.conftest import PASSWORD, new_client, sign_in

pytestmark = pytest.mark.usefixtures("worker")


@dataclass
class Owner:
    token: str
    profile_id: uuid.UUID
    web: FlaskClient  # signed in to the web app


@pytest.fixture
def owner(app: Flask) -> Owner:
    with app.extensions["db"].session() as session:
        account, token = make_account(session)
        account.password_hash = hash_password(PASSWORD)
        profile = make_profile(session, account)
        session.commit()
        email = account.email
    web = new_client(app)
    assert sign_in(web, email).status_code == 302
    return Owner(token, profile.id, web)


def submit(app: Flask, owner: Owner, data: bytes, name: str) -> uuid.UUID:
    response = upload(app.test_client(), owner.token, owner.profile_id, data, name=name)
    assert response.status_code == 201, response.json
    return uuid.UUID(response.json["shell_file_id"])


def test_a_quarantined_file_is_withheld_and_a_clean_one_served(
    app: Flask, owner: Owner, corpus: Corpus
) -> None:
    # Given a PDF carrying JavaScript and a clean one, both through the security scan
    hostile_bytes, clean_bytes = corpus.read("javascript.pdf"), corpus.read("born_digital.pdf")
    hostile = submit(app, owner, hostile_bytes, "javascript.pdf")
    clean = submit(app, owner, clean_bytes, "born_digital.pdf")
    assert wait_for_status(app, hostile).status == "quarantined"
    assert wait_for_status(app, clean).status == "completed"
    api = app.test_client()

    def assert_withheld(code: str) -> None:
        answer = api.get(f"/api/v1/shell-files/{hostile}/content", headers=bearer(owner.token))
        assert answer.status_code == 409
        assert answer.json["error"]["code"] == code
        assert answer.json["error"]["reason"] == "executable_content"
        assert hostile_bytes not in answer.data
        image = owner.web.get(f"/documents/{hostile}/pages/1.png")
        assert image.status_code == 409 and b"scripts, actions or attached files" in image.data

    # When its bytes or a page image are asked for, then 409 with its reason
    assert_withheld("quarantined")
    # and so once its owner has archived it (the scan's refusal still stands)
    archive = api.delete(f"/api/v1/shell-files/{hostile}", headers=bearer(owner.token))
    assert archive.status_code == 200
    assert_withheld("not_scanned")

    # And the clean one is served
    answer = api.get(f"/api/v1/shell-files/{clean}/content", headers=bearer(owner.token))
    assert answer.status_code == 200 and answer.data == clean_bytes
    image = owner.web.get(f"/documents/{clean}/pages/1.png")
    assert image.status_code == 200 and image.data.startswith(b"\x89PNG")
    hard = api.delete(f"/api/v1/shell-files/{hostile}?hard=true", headers=bearer(owner.token))
    assert hard.status_code == 204
