"""The job queue's producer side: one Celery message per job, carrying only the job id.

The API and the worker's sweeper both put jobs on the queue, so the producer lives here, below
both, and the API never imports the worker package (its image carries no engine). The settings
a producer and a consumer must agree on (broker, queue name, visibility timeout, serializer)
are made once, in ``broker_config``; ``worker/celery_app.py`` adds the consumer's own.
"""

from __future__ import annotations

from typing import Any

from amqp.exceptions import ChannelError
from celery import Celery

from shared.settings import Settings

RUN_JOB_TASK = "nst.run_job"


def broker_config(settings: Settings) -> dict[str, Any]:
    """The Celery settings a producer and a worker must share to talk over the same queue."""
    transport = {"visibility_timeout": settings.visibility_timeout_seconds}
    return {
        "broker_url": settings.redis_url,
        "result_backend": settings.redis_url,
        "broker_transport_options": transport,
        "result_backend_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "task_ignore_result": True,
        "task_default_queue": settings.queue,
        "task_routes": {RUN_JOB_TASK: {"queue": settings.queue}},
        "task_serializer": "json",
        "accept_content": ["json"],
    }


def make_producer(settings: Settings) -> Celery:
    """A Celery app that only sends: no tasks, no signals, nothing connected until it sends."""
    app = Celery("nst", set_as_current=False)
    app.conf.update(broker_config(settings))
    return app


def enqueue_job(app: Celery, job_id: str, countdown: float | None = None) -> None:
    """Queue one job; the message carries only the id, which is also the Celery task id.

    ``countdown`` delays delivery (a job handed back during an outage is retried later).
    """
    app.send_task(
        RUN_JOB_TASK, args=[job_id], task_id=job_id, queue=app.conf.task_default_queue,
        countdown=countdown,
    )  # fmt: skip


def queue_length(app: Celery) -> int:
    """Messages waiting in the job queue, as kombu counts them (no assumption on key names)."""
    with app.connection_for_read() as connection:
        try:
            declared = connection.default_channel.queue_declare(
                queue=app.conf.task_default_queue, passive=True
            )
        except ChannelError:  # never declared: no producer or worker has used it yet
            return 0
        return int(declared.message_count)
