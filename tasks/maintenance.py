"""Beat's bookkeeping: publish what the broker does not hold, reclaim what a dead worker held."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task
from flask import current_app

from app.audit import chain_key, seal_pending
from app.db import get_db


def _settings_and_dispatcher() -> tuple[Any, Any]:
    return current_app.config["SETTINGS"], current_app.extensions["dispatcher"]


@shared_task(name="maintenance.relay_outbox", acks_late=False, ignore_result=True)
def relay_outbox() -> int:
    """Publish committed jobs the broker never got or has lost. Returns the count."""
    settings, dispatcher = _settings_and_dispatcher()
    return int(
        dispatcher.relay(
            grace=timedelta(seconds=settings.outbox_grace_s),
            stale_after=timedelta(seconds=settings.stale_after_s),
        )
    )


@shared_task(name="maintenance.seal_audit_log", acks_late=False, ignore_result=True)
def seal_audit_log() -> int:
    """Add settled audit rows to the hash chain. Returns how many were sealed."""
    settings = current_app.config["SETTINGS"]
    with get_db().session() as session:
        return seal_pending(
            session, key=chain_key(settings), settle=timedelta(seconds=settings.audit_settle_s)
        )


@shared_task(name="maintenance.reclaim_stale_jobs", acks_late=False, ignore_result=True)
def reclaim_stale_jobs() -> int:
    """Send again the stages whose worker stopped heartbeating. Returns the count."""
    settings, dispatcher = _settings_and_dispatcher()
    return int(dispatcher.reclaim(stale_after=timedelta(seconds=settings.stale_after_s)))
