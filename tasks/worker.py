"""Entry point for `celery --app tasks.worker worker|beat|flower`."""

from app import create_app

celery_app = create_app().extensions["celery"]
