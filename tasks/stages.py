"""The pipeline, named once: each stage's spec (name, lane, task name, from
`app.pipeline.STAGES`), the work it does and its time limits. Reading `PIPELINE` tells the
whole pipeline; its tasks are registered from it, and nowhere else names a stage's work or
limits.

A time limit keeps a file that hangs a stage from holding a worker: the soft limit raises
in the task (final at once, `stage_timeout`: it would only hang again), the hard one kills
the process (the stage is reclaimed, then dead-lettered). The lane decides the queue by
the task name's prefix (`celeryconfig.task_routes`).
"""

from __future__ import annotations

from dataclasses import dataclass

from celery import shared_task

from app.pipeline import STAGES, StageSpec
from tasks import ai, fast, record
from tasks.base import StageTask, Work, run_stage


@dataclass(frozen=True)
class Stage:
    spec: StageSpec
    work: Work
    soft_time_limit: int  # seconds
    time_limit: int


def _spec(name: str) -> StageSpec:
    return next(spec for spec in STAGES if spec.name == name)


PIPELINE: tuple[Stage, ...] = (
    Stage(_spec("security_scan"), fast.scan_work, 60, 75),
    Stage(_spec("ocr"), fast.ocr_work, *fast.OCR_LIMITS),  # a long document: page batches
    Stage(_spec("spatial_mapping"), fast.layout_work, 60, 75),
    Stage(_spec("pass1"), ai.entities_work, 570, 600),
    Stage(_spec("pass2"), ai.records_work, 570, 600),
    Stage(_spec("pass3"), ai.narrative_work, 570, 600),
    Stage(_spec("record"), record.record_work, 110, 120),
)


def _register(stage: Stage) -> StageTask:
    """The Celery task that runs `stage`: it claims the job and runs the stage's work."""

    def run(self: StageTask, job_id: str, **_earlier: str) -> str | None:
        # The job row names everything else. (`_earlier`: a message published before
        # messages carried the job id alone also names the shell file, unused.)
        return run_stage(self, job_id, stage.work)

    run.__name__ = run.__qualname__ = stage.spec.task_name.replace(".", "_")
    task: StageTask = shared_task(
        bind=True,
        base=StageTask,
        name=stage.spec.task_name,
        soft_time_limit=stage.soft_time_limit,
        time_limit=stage.time_limit,
    )(run)
    return task


TASKS: dict[str, StageTask] = {stage.spec.name: _register(stage) for stage in PIPELINE}
