"""Signing in and out: Argon2 hashes, the session cookie, CSRF, the rate limit, no enumeration."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access.passwords import WeakPassword, hash_password, verify_password
from app.config import Settings
from app.models import AuditLog
from tests.support.api import upload
from tests.web.conftest import PASSWORD, csrf_of, new_client, sign_in


def test_passwords_are_argon2id_hashes_that_verify_only_the_right_password() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD + "!")
    assert not verify_password(None, PASSWORD)
    assert not verify_password("not a hash", PASSWORD)
    with pytest.raises(WeakPassword):
        hash_password("short")


def test_sign_in_page_has_a_labelled_form_with_a_csrf_token_and_a_strict_csp(
    app: Flask, db_session: Session
) -> None:
    response = new_client(app).get("/sign-in")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<label for="email">' in html and 'id="email"' in html
    assert '<label for="password">' in html and 'id="password"' in html
    assert csrf_of(response)
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["Cache-Control"] == "no-store"


def test_the_right_password_signs_in_with_an_httponly_samesite_cookie(make_person) -> None:
    person = make_person(signed_in=False)
    response = sign_in(person.client, person.account.email.upper())  # emails match any case
    assert response.status_code == 302
    assert response.headers["Location"] == "/profiles"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert person.client.get("/profiles").status_code == 200


def test_the_session_cookie_is_secure_when_the_setting_asks(
    app: Flask, make_person, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = make_person(signed_in=False)
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)
    response = sign_in(person.client, person.account.email)
    assert "Secure" in response.headers["Set-Cookie"]


def test_cookies_are_secure_by_default_except_on_the_embedded_http_stack() -> None:
    production = Settings.from_env({"DATABASE_URL": "postgresql://db/x"})
    assert production.session_cookie_secure
    assert not Settings.from_env({}).session_cookie_secure  # SQLite on this machine
    assert not Settings.from_env(
        {"DATABASE_URL": "postgresql://db/x", "SESSION_COOKIE_SECURE": "false"}
    ).session_cookie_secure


def test_unknown_email_and_wrong_password_get_the_same_answer(make_person) -> None:
    person = make_person(signed_in=False)
    wrong = sign_in(person.client, person.account.email, "not the password at all")
    unknown = sign_in(person.client, "nobody-here@example.test", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    message = "That email and password do not match an account."
    assert message in wrong.get_data(as_text=True)
    assert message in unknown.get_data(as_text=True)
    assert person.client.get("/profiles").status_code == 302  # still signed out


def test_an_inactive_account_cannot_sign_in(make_person, db_session: Session) -> None:
    person = make_person(signed_in=False)
    person.account.is_active = False
    db_session.flush()
    assert sign_in(person.client, person.account.email, "not the password").status_code == 401
    refused = sign_in(person.client, person.account.email)  # the right password: told why
    assert refused.status_code == 403
    assert "deactivated" in refused.get_data(as_text=True)
    assert person.client.get("/profiles").status_code == 302


def test_a_post_without_the_csrf_token_is_refused(make_person) -> None:
    person = make_person(signed_in=False)
    response = person.client.post(
        "/sign-in", data={"email": person.account.email, "password": PASSWORD}
    )
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    signed = make_person()
    assert signed.client.post("/sign-out").status_code == 400
    assert signed.client.get("/profiles").status_code == 200  # not signed out by a forgery


def test_sign_in_is_rate_limited_per_address_and_email(
    app: Flask, make_person, broker_client
) -> None:
    person = make_person(signed_in=False)
    limit = int(app.config["SETTINGS"].signin_rate_limit.split()[0])
    for _ in range(limit):
        assert sign_in(person.client, person.account.email, "wrong password!").status_code == 401
    limited = sign_in(person.client, person.account.email)  # even the right password
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "60"
    assert "Too many sign-in attempts" in limited.get_data(as_text=True)
    assert person.client.get("/profiles").status_code == 302
    # Counted in the broker's Redis, so every web process shares the limit; the key
    # carries a hash of the email, not the email.
    keys = broker_client.keys("*sfp-web*")
    assert any(person.client.environ_base["REMOTE_ADDR"] in key for key in keys), keys
    assert not any(person.account.email in key for key in keys)
    other = make_person(signed_in=False)
    other.client.environ_base["REMOTE_ADDR"] = person.client.environ_base["REMOTE_ADDR"]
    assert sign_in(other.client, other.account.email).status_code == 302  # another email


def test_sign_out_ends_the_session(make_person, db_session: Session) -> None:
    person = make_person()
    response = person.client.post("/sign-out", data={"csrf_token": person.csrf()})
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in"
    assert person.client.get("/profiles").status_code == 302
    reasons = db_session.scalars(
        select(AuditLog.reason).where(AuditLog.account_id == person.account.id)
    ).all()
    assert "web sign-in" in reasons and "web sign-out" in reasons


def test_signed_out_visitors_are_sent_to_sign_in_and_back(make_person) -> None:
    person = make_person(signed_in=False)
    response = person.client.get(f"/profiles/{person.profile.id}")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in?next=/profiles/")
    token = csrf_of(person.client.get("/sign-in"))
    back = person.client.post(
        f"/sign-in?next=/profiles/{person.profile.id}",
        data={"email": person.account.email, "password": PASSWORD, "csrf_token": token},
    )
    assert back.headers["Location"] == f"/profiles/{person.profile.id}"
    json_answer = new_client(person.client.application).get(
        f"/profiles/{person.profile.id}/progress", headers={"Accept": "application/json"}
    )
    assert json_answer.status_code == 401


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_sign_in_never_redirects_off_site(make_person, target: str) -> None:
    person = make_person(signed_in=False)
    token = csrf_of(person.client.get("/sign-in"))
    response = person.client.post(
        "/sign-in",
        query_string={"next": target},
        data={"email": person.account.email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/profiles"


def test_the_api_keeps_working_with_tokens_and_without_csrf(make_person, samples) -> None:
    person = make_person(signed_in=False)
    response = upload(person.client, person.token, person.profile.id, samples.read("letter.pdf"))
    assert response.status_code == 201
    assert "Set-Cookie" not in response.headers  # the API never starts a web session


def test_the_admin_command_sets_a_password_that_signs_in(
    app: Flask, make_person, db_session: Session
) -> None:
    person = make_person(signed_in=False)
    person.account.password_hash = None
    db_session.flush()
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["accounts", "set-password", "--email", person.account.email],
        input="a brand new password\na brand new password\n",
    )
    assert result.exit_code == 0, result.output
    assert '"password_set": true' in result.output
    assert sign_in(person.client, person.account.email, "a brand new password").status_code == 302
    weak = runner.invoke(
        args=["accounts", "set-password", "--email", person.account.email, "--password", "short"]
    )
    assert weak.exit_code != 0 and "at least" in weak.output


def test_session_lifetime_is_the_setting(app: Flask) -> None:
    lifetime = app.config["PERMANENT_SESSION_LIFETIME"]
    assert lifetime == timedelta(seconds=app.config["SETTINGS"].session_lifetime_s)


def test_without_secret_key_one_is_kept_under_data_dir(tmp_path) -> None:
    from app.web import _local_secret_key

    first = _local_secret_key(tmp_path)
    assert len(first) >= 48
    assert _local_secret_key(tmp_path) == first  # every process signs alike
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]


HOSTILE_NEXT = [
    "//evil.example/",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",  # browsers drop the tab: //evil.example
    "/%09/evil.example",
    "/ /evil.example",
    "%2F%2Fevil.example",
    "/%2F/evil.example",
    "/%252F%252Fevil.example",
    "/%5Cevil.example",
    "https://evil.example/",
    "HTTPS:evil.example",
    "javascript:alert(1)",
    " javascript:alert(1)",
    "data:text/html,hi",
    "/\r\nLocation: https://evil.example",
    "/%0d%0aLocation:%20https://evil.example",
    "/profiles\x00",
    "/\u2028/evil.example",
    "evil.example",
    "profiles",
    "",
]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_sign_in_never_follows_a_hostile_next(make_person, target: str) -> None:
    person = make_person()  # signed in: the sign-in page sends it straight on to `next`
    response = person.client.get("/sign-in", query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/profiles"


def test_sign_in_follows_a_path_on_this_site(make_person) -> None:
    person = make_person()
    for target in (
        "/profiles",
        f"/profiles/{person.profile.id}?status=completed&page=2",
        "/profiles/caf%C3%A9#top",
    ):
        response = person.client.get("/sign-in", query_string={"next": target})
        assert response.headers["Location"] == target
    raw = person.client.get("/sign-in?next=/%09/evil.example")  # as the review sent it
    assert raw.headers["Location"] == "/profiles"
