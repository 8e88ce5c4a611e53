"""`flask --app app audit seal|verify|head`: the audit log's chain, for operators.

Each command prints one JSON object on stdout. `head` prints the chain's signed head, for
the operator to keep somewhere the database's users cannot write; `verify --head FILE`
then also proves the chain still reaches it, so deleting the newest rows shows.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import IO

import click
from flask import current_app
from flask.cli import AppGroup

from app.audit import (
    BadHead,
    ChainHead,
    ChainReport,
    chain_head,
    chain_key,
    seal_pending,
    verify_chain,
)
from app.db import get_db

audit_group = AppGroup("audit", help="The audit log's chain.")


def _emit(payload: dict[str, object]) -> None:
    click.echo(json.dumps(payload, sort_keys=True))


def _key() -> bytes:
    return chain_key(current_app.config["SETTINGS"])


def _report(report: ChainReport) -> dict[str, object]:
    return {
        "ok": report.ok,
        "checked": report.checked,
        "first_broken": report.first_broken,
        "reason": report.reason,
    }


@audit_group.command("seal")
@click.option("--settle", type=float, default=None, help="Seconds; default AUDIT_SETTLE.")
def audit_seal(settle: float | None) -> None:
    """Seal settled audit rows into the chain now (beat does this every 30 s)."""
    seconds = current_app.config["SETTINGS"].audit_settle_s if settle is None else settle
    key = _key()
    with get_db().session() as session:
        sealed = seal_pending(session, key=key, settle=timedelta(seconds=seconds))
    _emit({"sealed": sealed})


@audit_group.command("verify")
@click.option(
    "--head",
    "head_file",
    type=click.File("r"),
    default=None,
    help="A head printed by `audit head`: the chain must still reach it.",
)
def audit_verify(head_file: IO[str] | None) -> None:
    """Check the chain; name the first row that was edited, deleted or slipped in."""
    key = _key()
    head = None
    if head_file is not None:
        try:
            head = ChainHead.read(json.load(head_file), key)
        except (BadHead, json.JSONDecodeError) as exc:
            reason = str(exc) if isinstance(exc, BadHead) else "the head is not JSON"
            _emit({"ok": False, "checked": 0, "first_broken": None, "reason": reason})
            raise SystemExit(1) from None
    with get_db().session() as session:
        report = verify_chain(session, key, head)
    _emit(_report(report))
    if not report.ok:
        raise SystemExit(1)


@audit_group.command("head")
def audit_head() -> None:
    """Print the chain's signed head (sequence, last MAC, time, signature) to keep
    elsewhere; refuses (exit 1) if the chain does not verify."""
    key = _key()
    with get_db().session() as session:
        head = chain_head(session, key)
    if isinstance(head, ChainReport):
        _emit(_report(head))
        raise SystemExit(1)
    _emit(
        {
            "seq": head.seq,
            "audit_id": head.audit_id,
            "mac": head.mac,
            "at": head.at,
            "signature": head.signature,
        }
    )
