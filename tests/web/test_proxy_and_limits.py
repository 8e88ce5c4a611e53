"""Behind a proxy: the client's address comes from the trusted hops only, and failed
sign-ins are limited per account and across the service, beside the per-address limit."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import ConfigError, Settings
from app.models import AuditLog
from app.ratelimit import SignInLimits
from tests.web.conftest import Person, new_client, sign_in

_emails = itertools.count()


@pytest.fixture
def limits(app: Flask, redis_server, monkeypatch: pytest.MonkeyPatch) -> Iterator[SignInLimits]:
    """Small failed-sign-in limits in the session's Redis, counted from zero."""
    client = redis_server.client()

    def forget() -> None:
        for key in client.scan_iter("*sfp-signin*"):
            client.delete(key)

    forget()
    small = SignInLimits(redis_server.url, per_account="3 per 15 minutes", overall="6 per minute")
    monkeypatch.setitem(app.extensions, "signin_limits", small)
    yield small
    forget()


def test_failures_from_many_addresses_lock_the_account_briefly(app: Flask, make_person, limits):
    person = make_person(signed_in=False)
    for _ in range(3):  # each from its own address: the per-address limit never trips
        assert sign_in(new_client(app), person.account.email, "wrong password!").status_code == 401

    locked = sign_in(new_client(app), person.account.email)  # even the right password

    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60  # brief: the window's length
    assert "15 minutes" in locked.get_data(as_text=True)
    other = make_person(signed_in=False)  # other accounts are not affected
    assert sign_in(new_client(app), other.account.email).status_code == 302


def test_a_right_password_forgives_the_account_its_failures(app: Flask, make_person, limits):
    person = make_person(signed_in=False)
    for _ in range(2):
        sign_in(new_client(app), person.account.email, "wrong password!")
    assert sign_in(new_client(app), person.account.email).status_code == 302
    for _ in range(2):
        assert sign_in(new_client(app), person.account.email, "wrong password!").status_code == 401
    assert sign_in(new_client(app), person.account.email).status_code == 302


def test_spraying_one_password_across_accounts_meets_the_overall_limit(
    app: Flask, make_person, limits
) -> None:
    sprayer = new_client(app)
    for n in range(6):  # one guess at each of six emails, from one address
        email = f"spray-{n}-{next(_emails)}@example.test"
        assert sign_in(sprayer, email, "Password123!").status_code == 401

    person = make_person(signed_in=False)
    blocked = sign_in(new_client(app), person.account.email)
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 60


def test_without_redis_sign_in_is_admitted(app: Flask, make_person, monkeypatch) -> None:
    unreachable = SignInLimits(
        "redis://127.0.0.1:1/0", per_account="1 per hour", overall="1 per hour"
    )
    monkeypatch.setitem(app.extensions, "signin_limits", unreachable)
    person = make_person(signed_in=False)
    assert sign_in(person.client, person.account.email, "wrong password!").status_code == 401
    assert sign_in(person.client, person.account.email).status_code == 302


@pytest.fixture
def proxied_app(app: Flask, db_session: Session) -> Iterator[Flask]:
    """The app as `TRUSTED_PROXIES=1` builds it, in the test's rolled-back transaction
    (the session's Celery app stays the default)."""
    from app import create_app

    built = create_app(app.config["SETTINGS"].with_overrides({"trusted_proxies": 1}))
    own_engine = built.extensions["db"].engine
    built.extensions["db"].sessionmaker = app.extensions["db"].sessionmaker
    try:
        yield built
    finally:
        app.extensions["celery"].set_default()
        own_engine.dispose()


def signed_in_from(flask_app: Flask, db_session: Session, person: Person, forwarded: str) -> str:
    """Sign in through a proxy at 10.250.0.1 that says it saw `forwarded`; the address
    the sign-in's audit row records."""
    client = flask_app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.250.0.1"
    client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded
    assert sign_in(client, person.account.email).status_code == 302
    address = db_session.scalar(
        select(AuditLog.client_address)
        .where(AuditLog.account_id == person.account.id, AuditLog.reason == "web sign-in")
        .order_by(AuditLog.id.desc())
        .limit(1)
    )
    assert address is not None
    return address


def test_the_audited_address_is_the_one_the_trusted_proxy_saw(
    app: Flask, proxied_app: Flask, db_session: Session, make_person
) -> None:
    person = make_person(signed_in=False)
    # One proxy trusted: the hop it appended, not what the client claimed before it.
    assert signed_in_from(proxied_app, db_session, person, "6.6.6.6, 203.0.113.9") == (
        "203.0.113.9"
    )
    # None trusted (the default): the header is only the client's claim, ignored.
    assert signed_in_from(app, db_session, person, "203.0.113.9") == "10.250.0.1"


def test_proxy_and_limit_settings_are_parsed_with_clear_errors() -> None:
    assert Settings.from_env({}).trusted_proxies == 0
    assert Settings.from_env({"TRUSTED_PROXIES": "2"}).trusted_proxies == 2
    for name, bad in (
        ("TRUSTED_PROXIES", "-1"),
        ("TRUSTED_PROXIES", "yes"),
        ("SIGNIN_ACCOUNT_LIMIT", "lots"),
        ("SIGNIN_GLOBAL_LIMIT", "100 per fortnight"),
        ("SIGNIN_RATE_LIMIT", "5 a minute"),
    ):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: bad})
