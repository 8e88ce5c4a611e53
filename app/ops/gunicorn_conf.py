"""gunicorn's settings that are code (the Procfile's `web` loads them with `--config`).

Each worker, once it has loaded the app, moves what it loaded out of the collector's
sight (`gc.freeze`): a full collection otherwise walks the whole app, SQLAlchemy, pint's
registry and the lexicon again, which stalled a read of the record by 80 ms every few
requests. The Celery workers do the same at start (`tasks/ai.py`).
"""

from __future__ import annotations

import gc
from typing import Any


def post_worker_init(worker: Any) -> None:
    gc.collect()
    gc.freeze()
