"""The pipeline is named once: every stage of `app.pipeline.STAGES`, in its order, has its
work and time limits in `tasks.stages.PIPELINE`, and its task is registered from there."""

from __future__ import annotations

from app.pipeline import STAGES
from tasks.stages import PIPELINE, TASKS


def test_the_stage_list_names_every_stage_once_in_the_pipelines_order() -> None:
    assert [stage.spec for stage in PIPELINE] == list(STAGES)


def test_each_stage_task_is_registered_with_its_stages_name_and_limits(app) -> None:
    celery_app = app.extensions["celery"]
    celery_app.loader.import_default_modules()
    for stage in PIPELINE:
        task = celery_app.tasks[stage.spec.task_name]
        assert TASKS[stage.spec.name].name == stage.spec.task_name
        assert (task.soft_time_limit, task.time_limit) == (
            stage.soft_time_limit,
            stage.time_limit,
        )
        assert 0 < task.soft_time_limit < task.time_limit
    batch = celery_app.tasks["fast.ocr_pages"]  # the OCR stage's page batches share its limits
    ocr = next(stage for stage in PIPELINE if stage.spec.name == "ocr")
    assert (batch.soft_time_limit, batch.time_limit) == (ocr.soft_time_limit, ocr.time_limit)
