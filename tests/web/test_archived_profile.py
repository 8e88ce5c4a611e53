"""An archived profile in the web app: read-only for everyone but its owner."""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session

from tests.support.factories import grant
from tests.web.conftest import store_document


def test_a_grantee_cannot_reprocess_in_an_archived_profile_its_owner_can(
    app: Flask, make_person, db_session: Session, samples
) -> None:
    owner, editor = make_person(), make_person()
    grant(db_session, owner.profile, editor.account, "full_access")
    doc = store_document(app, db_session, owner, samples.read("letter.pdf"))
    doc.status = "failed"
    owner.profile.archived = True
    db_session.flush()
    url = f"/documents/{doc.id}/reprocess"

    assert editor.client.get(f"/documents/{doc.id}").status_code == 200  # still readable
    assert editor.client.post(url, data={"csrf_token": editor.csrf()}).status_code == 404
    db_session.refresh(doc)
    assert (doc.run_number, doc.status) == (1, "failed")

    assert owner.client.post(url, data={"csrf_token": owner.csrf()}).status_code == 302
    db_session.refresh(doc)
    assert (doc.run_number, doc.status) == (2, "uploaded")
