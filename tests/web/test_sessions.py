"""Ending web sessions from the server: a copied cookie stops working once the account's
session version moves (sign out everywhere, a new password, deactivation)."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Account, AuditLog
from tests.web.conftest import Person, new_client, sign_in


def copy_session(app: Flask, person: Person) -> FlaskClient:
    """Another browser holding a copy of the person's session cookie."""
    thief = new_client(app)
    cookie = person.client.get_cookie("sfp_session")
    assert cookie is not None
    thief.set_cookie("sfp_session", cookie.value)
    assert thief.get("/profiles").status_code == 200
    return thief


def test_sign_out_clears_this_browser_only_but_everywhere_ends_a_copied_cookie(
    app: Flask, make_person, db_session: Session
) -> None:
    person = make_person()
    thief = copy_session(app, person)
    other_device = new_client(app)
    assert sign_in(other_device, person.account.email).status_code == 302

    response = person.client.post("/sign-out-everywhere", data={"csrf_token": person.csrf()})

    assert response.status_code == 302 and response.headers["Location"] == "/sign-in"
    for client in (person.client, thief, other_device):
        assert client.get("/profiles").status_code == 302
    reasons = db_session.scalars(
        select(AuditLog.reason).where(AuditLog.account_id == person.account.id)
    ).all()
    assert "web sign-out everywhere" in reasons
    assert sign_in(person.client, person.account.email).status_code == 302  # signs in again
    assert person.client.get("/profiles").status_code == 200


def test_the_page_offers_sign_out_everywhere(make_person) -> None:
    person = make_person()
    html = person.client.get("/profiles").get_data(as_text=True)
    assert 'action="/sign-out-everywhere"' in html


def test_a_plain_sign_out_leaves_other_sessions_alone(app: Flask, make_person) -> None:
    person = make_person()
    other_device = new_client(app)
    assert sign_in(other_device, person.account.email).status_code == 302
    person.client.post("/sign-out", data={"csrf_token": person.csrf()})
    assert other_device.get("/profiles").status_code == 200


def test_a_new_password_ends_every_session(app: Flask, make_person) -> None:
    person = make_person()
    thief = copy_session(app, person)
    result = app.test_cli_runner().invoke(
        args=["accounts", "set-password", "--email", person.account.email],
        input="another long password\nanother long password\n",
    )
    assert result.exit_code == 0, result.output
    assert thief.get("/profiles").status_code == 302
    assert person.client.get("/profiles").status_code == 302
    assert sign_in(person.client, person.account.email, "another long password").status_code == 302


def test_deactivation_ends_sessions_sign_in_and_tokens(
    app: Flask, make_person, db_session: Session
) -> None:
    person = make_person()
    thief = copy_session(app, person)
    result = app.test_cli_runner().invoke(
        args=["accounts", "deactivate", "--email", person.account.email]
    )
    assert result.exit_code == 0, result.output
    db_session.expire_all()
    account = db_session.get(Account, person.account.id)
    assert account is not None and not account.is_active and account.deactivated_at
    assert thief.get("/profiles").status_code == 302
    assert person.client.get("/profiles").status_code == 302
    refused = sign_in(person.client, person.account.email)
    assert refused.status_code == 403 and "deactivated" in refused.get_data(as_text=True)
    api = person.client.get("/api/v1/profiles", headers={"Authorization": f"Bearer {person.token}"})
    assert api.status_code == 401
    assert "deactivated" in api.json["error"]["message"]
