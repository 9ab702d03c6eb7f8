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
DELIVER_WEBHOOK_TASK = "nst.deliver_webhook"  # worker/webhooks/delivery.py, on its own queue


def broker_config(settings: Settings) -> dict[str, Any]:
    """The Celery settings a producer and a worker must share to talk over the same queue."""
    transport = {"visibility_timeout": settings.visibility_timeout_seconds}
    transport.update(sentinel_transport_options(settings))
    return {
        "broker_url": settings.redis_url,
        "result_backend": settings.redis_url,
        "broker_transport_options": transport,
        "result_backend_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "task_ignore_result": True,
        "task_default_queue": settings.queue,
        "task_routes": {
            RUN_JOB_TASK: {"queue": settings.queue},
            DELIVER_WEBHOOK_TASK: {"queue": settings.webhook_queue},
        },
        "task_serializer": "json",
        "accept_content": ["json"],
    }


def sentinel_transport_options(settings: Settings) -> dict[str, Any]:
    """With a ``sentinel://`` URL: the primary's name (and the sentinels' password) for kombu.

    kombu's Redis transport and Celery's Redis result backend both read ``master_name`` and
    ``sentinel_kwargs`` from their transport options; the primary's own password comes from
    the URL, as for the job store (``shared/redis_client.py``).
    """
    if not settings.redis_url.startswith("sentinel://"):
        return {}
    options: dict[str, Any] = {"master_name": settings.redis_sentinel_master}
    if settings.redis_sentinel_password is not None:
        password = settings.redis_sentinel_password.get_secret_value()
        options["sentinel_kwargs"] = {"password": password}
    return options


def make_producer(settings: Settings) -> Celery:
    """A Celery app that only sends: no tasks, no signals, nothing connected until it sends."""
    app = Celery("nst", set_as_current=False)
    app.conf.update(broker_config(settings))
    # No result backend: a producer never reads a result. With Redis's, every AsyncResult that
    # send_task returns takes locks and may write to a pub/sub socket from ``__del__``, run by
    # the garbage collector in whatever greenlet or native thread allocates at the time.
    app.conf.result_backend = None
    return app


def enqueue_job(app: Celery, job_id: str, countdown: float | None = None) -> None:
    """Queue one job; the message carries only the id, which is also the Celery task id.

    ``countdown`` delays delivery (a job handed back during an outage is retried later).
    ``ignore_result``: without it Celery's Redis result backend subscribes to the task's result
    channel (and unsubscribes when the AsyncResult is collected) on a pub/sub connection no one
    reads, per greenlet; the API left those behind with unread replies (issue 21).
    """
    app.send_task(
        RUN_JOB_TASK,
        args=[job_id],
        task_id=job_id,
        queue=app.conf.task_default_queue,
        countdown=countdown,
        ignore_result=True,
    )


def enqueue_webhook(
    app: Celery, job_id: str, event: str, message_id: str, body: str, priority: int
) -> None:
    """Queue one webhook message for the webhook consumer (``task_routes`` names its queue).

    The body is the event as it was when it happened, signed at each attempt; the job id lets
    the delivery find the URL and record its attempts on the job. ``priority``: 0 is taken
    first (Redis). The time limits are cleared: a producer that has the delivery task
    registered (a GPU worker) would otherwise stamp its own hour-long job limits on the
    message, and the consumer would apply those instead of its own (``webhook_config``).
    """
    app.send_task(
        DELIVER_WEBHOOK_TASK,
        args=[job_id, event, message_id, body],
        ignore_result=True,
        priority=priority,
        time_limit=None,
        soft_time_limit=None,
    )


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
