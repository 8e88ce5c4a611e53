"""Signing in and out, the profiles an account reaches, and each profile's documents."""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import (
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import func, select
from werkzeug.exceptions import BadRequest, NotFound, TooManyRequests

from app.access.accounts import end_sessions
from app.access.grants import accessible_document, accessible_profile, reachable_profiles
from app.access.passwords import hash_password, needs_rehash, verify_password
from app.audit import audit_read, commit_audited, log_audit_event
from app.db import request_session
from app.models import SHELL_FILE_STATUSES, Account, ShellFile, UserProfile
from app.search.query import MAX_QUERY_CHARS
from app.web import progress, wording
from app.web.blueprint import sign_in_account, web
from app.web.forms import SignInForm

PER_PAGE = 25
MAX_PROGRESS_IDS = 100
SIGN_IN_FAILED = "That email and password do not match an account."
DEACTIVATED = "This account has been deactivated. Ask the service's administrator."


@web.get("/")
def home() -> Any:
    return redirect(url_for("web.profiles"))


def _safe_next(target: str | None) -> str:
    """The page to go to after sign-in: `target` if it is a path on this site, else the
    profiles page. Refused: a scheme or host (`https://x`, `//x`, `javascript:`), a
    backslash, whitespace or a control character, in the value as given or after
    percent-decoding it (browsers drop a tab from `/<tab>/x`, leaving `//x`)."""
    forms = _decodings(target or "")
    if target and unquote(forms[-1]) == forms[-1] and all(map(_plain_path, forms)):
        return target
    return url_for("web.profiles")


def _decodings(target: str, most: int = 4) -> list[str]:
    """The value, then each percent-decoding of it until nothing changes (`%252F` too)."""
    forms = [target]
    while len(forms) <= most and (decoded := unquote(forms[-1])) != forms[-1]:
        forms.append(decoded)
    return forms


def _plain_path(value: str) -> bool:
    if any(ch == "\\" or ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in value):
        return False
    parts = urlsplit(value)  # which reads `///x` as the path `/x`: hence the raw check
    return (
        not parts.scheme
        and not parts.netloc
        and value.startswith("/")
        and not value.startswith("//")
        and not parts.path.startswith("//")
    )


def _sign_in_key(email: str) -> str:
    # The email is hashed: rate-limit keys in Redis carry no address.
    digest = hashlib.sha256(email.encode()).hexdigest()[:24]
    return f"{request.remote_addr}|{digest}"


def _check_password(email: str, password: str) -> Account | None:
    """The account with this email and password (active or not); None for any mismatch."""
    db = request_session()
    account = db.scalar(select(Account).where(Account.email == email))
    if not verify_password(account.password_hash if account else None, password):
        return None
    if account is not None and account.password_hash and needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    return account


@web.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    form = SignInForm()
    if request.method == "GET":
        if g.account is not None:
            return redirect(_safe_next(request.args.get("next")))
        return render_template("sign_in.html", form=form, error=None)
    email = (form.email.data or "").strip().lower()
    limiter = current_app.extensions["web_limiter"]
    settings = current_app.config["SETTINGS"]
    with limiter.limit(settings.signin_rate_limit, key_func=lambda: _sign_in_key(email)):
        account = _limited_check(email, form)
    if account is None:
        return render_template("sign_in.html", form=form, error=SIGN_IN_FAILED), 401
    if not account.is_active:
        return render_template("sign_in.html", form=form, error=DEACTIVATED), 403
    db = request_session()
    log_audit_event(
        db,
        operation="read",
        table_name="accounts",
        record_id=account.id,
        patient_id=None,
        account_id=account.id,
        reason="web sign-in",
        compliance_category="authentication",
    )
    db.commit()
    sign_in_account(account)
    return redirect(_safe_next(request.args.get("next")))


def _limited_check(email: str, form: SignInForm) -> Account | None:
    """`_check_password` within the failed sign-in limits of the account and the service
    (429 once either is spent); a failure counts against both, a success clears the
    account's."""
    limits = current_app.extensions["signin_limits"]
    wait = limits.retry_after(email)
    if wait is not None:
        raise TooManyRequests(retry_after=wait)
    account = _check_password(email, form.password.data or "") if form.validate() else None
    if account is None:
        limits.failed(email)
    else:
        limits.succeeded(email)
    return account


@web.post("/sign-out")
def sign_out() -> Any:
    return _sign_out(everywhere=False)


@web.post("/sign-out-everywhere")
def sign_out_everywhere() -> Any:
    """End every session of this account, on every device (a copied cookie too)."""
    return _sign_out(everywhere=True)


def _sign_out(*, everywhere: bool) -> Any:
    db = request_session()
    if everywhere:
        end_sessions(db, g.account)
    log_audit_event(
        db,
        operation="update" if everywhere else "read",
        table_name="accounts",
        record_id=g.account.id,
        patient_id=None,
        reason="web sign-out everywhere" if everywhere else "web sign-out",
        compliance_category="authentication",
    )
    db.commit()
    session.clear()
    flash("You are signed out everywhere." if everywhere else "You are signed out.")
    return redirect(url_for("web.sign_in"))


@web.get("/profiles")
def profiles() -> Any:
    items = reachable_profiles(request_session(), g.account_id)
    db = request_session()
    for profile, _ in items:
        log_audit_event(
            db,
            operation="read",
            table_name="user_profiles",
            record_id=profile.id,
            patient_id=profile.id,
            reason="web: list profiles",
        )
    commit_audited(db)
    return render_template("profiles.html", items=items)


def profile_for(profile_id: str, level: str = "read_only") -> UserProfile:
    try:
        pid = uuid.UUID(profile_id)
    except ValueError:
        raise NotFound("no such profile") from None
    return accessible_profile(request_session(), g.account_id, pid, level)


def document_for(shell_file_id: str, level: str = "read_only") -> ShellFile:
    """The document, if the signed-in account reaches its profile at `level`; else 404."""
    return accessible_document(request_session(), g.account_id, shell_file_id, level)


def can_write(profile: UserProfile) -> bool:
    if profile.archived:
        return False
    try:
        accessible_profile(request_session(), g.account_id, profile.id, "read_write")
    except NotFound:
        return False
    return True


def page_number() -> int:
    raw = request.args.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise BadRequest("page must be a whole number from 1")
    return int(raw)


@web.get("/profiles/<profile_id>")
def documents(profile_id: str) -> Any:
    profile = profile_for(profile_id)
    status = request.args.get("status") or None
    if status is not None and status not in SHELL_FILE_STATUSES:
        raise BadRequest("unknown status")
    page = page_number()
    db = request_session()
    query = select(ShellFile).where(ShellFile.patient_id == profile.id)
    if status:
        query = query.where(ShellFile.status == status)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    files = db.scalars(
        query.order_by(ShellFile.created_at.desc(), ShellFile.id)
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    ).all()
    writable = can_write(profile)
    items = progress.summaries(db, list(files), can_write=writable)
    audit_read(
        db,
        table_name="shell_files",
        record_id=None,
        patient_id=profile.id,
        reason="web: list documents",
    )
    return render_template(
        "documents.html",
        profile=profile,
        items=items,
        blank_row=progress.blank(),
        status=status,
        statuses=[(s, wording.status_label(s)) for s in SHELL_FILE_STATUSES],
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        total=total,
        can_write=writable,
        max_upload_bytes=current_app.config["SETTINGS"].max_upload_bytes,
        max_query_chars=MAX_QUERY_CHARS,
    )


@web.get("/profiles/<profile_id>/progress")
def documents_progress(profile_id: str) -> Any:
    """The status and stages of some of the profile's documents, for the page to poll."""
    profile = profile_for(profile_id)
    ids = []
    for raw in request.args.get("ids", "").split(",")[:MAX_PROGRESS_IDS]:
        try:
            ids.append(uuid.UUID(raw))
        except ValueError:
            continue
    db = request_session()
    files = db.scalars(
        select(ShellFile).where(ShellFile.patient_id == profile.id, ShellFile.id.in_(ids))
    ).all()
    items = progress.summaries(db, list(files), can_write=can_write(profile))
    audit_read(
        db,
        table_name="shell_files",
        record_id=None,
        patient_id=profile.id,
        reason="web: watch document progress",
    )
    return jsonify(items=items)
