"""Entry point for `celery --app tasks.worker worker|beat|flower`."""

from app import create_app

# Workers retry a stage whose database connection died, so they skip the pre-ping.
celery_app = create_app({"db_pre_ping": False}).extensions["celery"]
