"""The pipeline's stages: plain functions (bytes or data in, data out). Nothing under this
package imports Celery, kombu, redis, Flask or SQLAlchemy (tests/app/pipeline/test_purity.py).

`STAGES` is the one list that names the pipeline: its order is the order of the
chain, and each stage's lane is the queue its task is routed to.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StageSpec:
    name: str  # job_queue.job_type and the stage name in the API
    lane: str  # "fast" or "ai": the queue, by task_routes on the task name's prefix
    task_name: str


STAGES: tuple[StageSpec, ...] = (
    StageSpec("security_scan", "fast", "fast.scan_shell_file"),
    StageSpec("ocr", "fast", "fast.extract_text"),
    StageSpec("spatial_mapping", "fast", "fast.map_layout"),
    StageSpec("pass1", "ai", "ai.detect_entities"),
    StageSpec("pass2", "ai", "ai.enrich_records"),
    StageSpec("pass3", "ai", "ai.write_narrative"),
    StageSpec("record", "ai", "ai.merge_record"),  # into the profile's record
)
STAGE_NAMES: tuple[str, ...] = tuple(stage.name for stage in STAGES)
