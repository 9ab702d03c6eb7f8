"""The webhook consumer's entry point: ``celery -A worker.webhook_main:app worker``."""

from worker.celery_app import create_webhook_app

app = create_webhook_app()
