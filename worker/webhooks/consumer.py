"""The webhook consumer's app and entry point: ``celery -A worker.webhooks.consumer:app worker``.

A separate, cheap deployment on its own queue: the delivery task only, no engine, no GPU, no
sweeper, so no GPU worker ever waits on a receiver.
"""

from __future__ import annotations

from celery import Celery

from shared.queue import broker_config
from shared.settings import Settings, load_settings
from worker.webhooks.delivery import WebhookConsumer, attempt_time_limits


def webhook_config(settings: Settings) -> dict[str, object]:
    """The webhook consumer's settings: many short HTTP tasks, each bounded in time.

    Late acks: a consumer killed mid-delivery leaves the message for another (receivers
    deduplicate on ``webhook-id``). Each attempt ends at its own deadline (``webhook_http``);
    the soft limit is a backstop past it (the attempt is recorded as unanswered), the hard
    limit the last one. Prefetch of one: a process takes the next message when it is free, so
    the queue's priorities (a job's end before checkpoints) decide what goes next.
    """
    soft_limit, hard_limit = attempt_time_limits(settings)
    return {
        "task_default_queue": settings.webhook_queue,
        "task_acks_late": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_concurrency": 8,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": soft_limit,
        "task_time_limit": hard_limit,
        "include": ["worker.webhooks.delivery"],
    }


def create_webhook_app(settings: Settings | None = None) -> Celery:
    """The webhook consumer's app: the delivery task only, no engine, no GPU, no sweeper."""
    settings = settings or load_settings()
    app = Celery("nst")
    app.conf.update(broker_config(settings))
    app.conf.update(webhook_config(settings))
    WebhookConsumer(app, settings).connect()
    return app


app = create_webhook_app()
