"""The ai lane: Pass 1 entities → Pass 2 clinical records → Pass 3 narrative.

Not built yet: each stage says so, and the document ends `failed` with an error row
naming the missing stage rather than pretending to succeed.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from app.pipeline.errors import StageNotBuilt
from tasks.base import Save, StageContext, StageTask, run_stage


def not_built(stage: str) -> Any:
    """The work of a stage that does not exist yet: it says so, and the document fails."""

    def work(_context: StageContext) -> Save:
        raise StageNotBuilt(stage)

    return work


@shared_task(bind=True, base=StageTask, name="ai.detect_entities")
def detect_entities(self: StageTask, shell_file_id: str, job_id: str) -> str | None:
    return run_stage(self, job_id, not_built("pass1"))


@shared_task(bind=True, base=StageTask, name="ai.enrich_records")
def enrich_records(self: StageTask, shell_file_id: str, job_id: str) -> str | None:
    return run_stage(self, job_id, not_built("pass2"))


@shared_task(bind=True, base=StageTask, name="ai.write_narrative")
def write_narrative(self: StageTask, shell_file_id: str, job_id: str) -> str | None:
    return run_stage(self, job_id, not_built("pass3"))
