"""The worker's entry point: ``celery -A worker.main:app worker``."""

from worker.celery_app import create_worker_app

app = create_worker_app()
