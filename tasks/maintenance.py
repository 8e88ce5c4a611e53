"""Beat's bookkeeping: publish what the broker does not hold, reclaim what a dead worker held."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from flask import current_app

from app.audit import chain_key, seal_pending
from app.celery_app import flask_app_of
from app.db import get_db
from app.sweeper import sweep_machine, sweep_stores

log = logging.getLogger(__name__)


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


@shared_task(name="maintenance.sweep_orphans", acks_late=False, ignore_result=True)
def sweep_orphans() -> dict[str, int]:
    """Remove bytes and derived files no document names (on this worker's machine, and
    in the shared stores). Returns what it removed."""
    settings = current_app.config["SETTINGS"]
    grace = timedelta(seconds=settings.orphan_grace_s)
    db, blobs = get_db(), current_app.extensions["blobs"]
    swept = sweep_machine(db, settings.data_dir, grace=grace)
    return (swept + sweep_stores(db, blobs.file_root, grace=grace)).as_json()


@worker_ready.connect(weak=False)
def _sweep_this_machine_at_start(sender: Any = None, **_: Any) -> None:
    """Each worker sweeps its own machine's local copies and page images once it is up
    (beat's hourly sweep reaches only the machine it lands on), off the start-up path."""
    if sender is None:
        return
    flask_app = flask_app_of(sender.app)

    def sweep() -> None:
        with flask_app.app_context():
            settings = flask_app.config["SETTINGS"]
            try:
                sweep_machine(
                    get_db(), settings.data_dir, grace=timedelta(seconds=settings.orphan_grace_s)
                )
            except Exception:  # noqa: BLE001 - a sweep that fails waits for the next one
                log.warning("the start-up sweep of this machine failed; beat's sweep follows")

    threading.Thread(target=sweep, name="sweep-at-start", daemon=True).start()
