"""The web's gunicorn settings: a worker freezes what it loaded, and the Procfile uses them."""

from __future__ import annotations

import gc
from pathlib import Path

from app.ops import gunicorn_conf
from app.ops.launcher import parse_procfile


def test_a_web_worker_freezes_what_it_loaded_out_of_the_collectors_sight() -> None:
    gc.unfreeze()
    try:
        gunicorn_conf.post_worker_init(worker=None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_the_procfiles_web_loads_them() -> None:
    procfile = Path(__file__).resolve().parents[2] / "Procfile"
    web = dict(parse_procfile(procfile.read_text()).processes)["web"]
    assert "--config python:app.ops.gunicorn_conf" in web
