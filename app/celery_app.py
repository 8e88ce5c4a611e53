"""Turning the Flask app into a Celery app (Flask's `celery_init_app` pattern).

Every task runs inside the Flask app context, so tasks reach the database and
the blob store through the same extensions the web process uses.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from celery.signals import worker_process_init
from flask import Flask


class AppContextTask(Task):
    """A task that runs with its Flask app pushed."""

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with flask_app_of(self.app).app_context():
            return super().__call__(*args, **kwargs)


def flask_app_of(celery_app: Celery) -> Flask:
    flask_app: Flask = celery_app.conf["flask_app"]
    return flask_app


def celery_init_app(app: Flask) -> Celery:
    celery_app: Celery = Celery(app.name, task_cls=AppContextTask)
    celery_app.config_from_object("celeryconfig")
    celery_app.conf["flask_app"] = app
    celery_app.conf["imports"] = ("tasks.stages", "tasks.maintenance")
    celery_app.set_default()
    app.extensions["celery"] = celery_app

    @worker_process_init.connect(weak=False)
    def _fresh_connections_after_fork(**_: Any) -> None:
        # A forked pool child must not reuse the parent's database connections.
        app.extensions["db"].dispose_after_fork()

    return celery_app
