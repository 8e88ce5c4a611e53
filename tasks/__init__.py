"""Celery tasks: thin wrappers that load by id, call a stage, and record what happened."""
