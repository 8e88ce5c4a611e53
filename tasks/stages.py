"""The six stage tasks, in pipeline order. Each loads by id, runs its stage, saves.

Task names carry their lane (`fast.*`, `ai.*`), which `task_routes` maps to the
queue; `app.pipeline.STAGES` lists the same names in chain order.
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


@shared_task(bind=True, base=StageTask, name="fast.scan_shell_file")
def scan_shell_file(self: StageTask, shell_file_id: str, job_id: str) -> str | None:
    return run_stage(self, job_id, not_built("security_scan"))


@shared_task(bind=True, base=StageTask, name="fast.extract_text")
def extract_text(self: StageTask, shell_file_id: str, job_id: str) -> str | None:
    return run_stage(self, job_id, not_built("ocr"))


@shared_task(bind=True, base=StageTask, name="fast.map_layout")
def map_layout(self: StageTask, shell_file_id: str, job_id: str) -> str | None:
    return run_stage(self, job_id, not_built("spatial_mapping"))


@shared_task(bind=True, base=StageTask, name="ai.detect_entities")
def detect_entities(self: StageTask, shell_file_id: str, job_id: str) -> str | None:
    return run_stage(self, job_id, not_built("pass1"))


@shared_task(bind=True, base=StageTask, name="ai.enrich_records")
def enrich_records(self: StageTask, shell_file_id: str, job_id: str) -> str | None:
    return run_stage(self, job_id, not_built("pass2"))


@shared_task(bind=True, base=StageTask, name="ai.write_narrative")
def write_narrative(self: StageTask, shell_file_id: str, job_id: str) -> str | None:
    return run_stage(self, job_id, not_built("pass3"))
