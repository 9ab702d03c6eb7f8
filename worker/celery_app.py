"""The Celery application and every Celery setting (the worker's entry point).

``celery -A worker.celery_app:app worker`` builds the app on first access from
the environment; the API builds its own producer with ``make_celery(settings)``,
so importing this module creates nothing and reads nothing.

Settings chosen against Celery's known traps for long GPU jobs:
- late acks + reject on worker loss: a job is acknowledged only when it has
  ended, and a killed child process puts its message back (celery#1628);
- prefetch of one: a busy GPU worker never holds a second job hostage;
- Redis ``visibility_timeout`` above the hard time limit, the same for broker
  and result backend, so a live job is not redelivered (celery#5935, #4400).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from shared.settings import Settings, load_settings

RUN_JOB_TASK = "nst.run_job"


def make_celery(settings: Settings, include_tasks: bool = False) -> Celery:
    """Build a Celery app for settings; workers include the task module, producers don't."""
    transport = {"visibility_timeout": settings.visibility_timeout_seconds}
    app = Celery("nst", include=["worker.tasks"] if include_tasks else [])
    app.conf.update(
        broker_url=settings.redis_url,
        result_backend=settings.redis_url,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_default_queue=settings.queue,
        task_routes={RUN_JOB_TASK: {"queue": settings.queue}},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_time_limit=settings.job_time_limit_seconds,
        task_soft_time_limit=max(settings.job_time_limit_seconds - 30, 5),
        task_serializer="json",
        accept_content=["json"],
        worker_proc_alive_timeout=180,  # the pool child loads VGG19 before it reports up
    )
    app.conf.nst_settings = settings
    return app


def enqueue_job(app: Celery, job_id: str) -> None:
    """Queue one job; the message carries only the id, which is also the Celery task id."""
    app.send_task(RUN_JOB_TASK, args=[job_id], task_id=job_id, queue=app.conf.task_default_queue)


def __getattr__(name: str) -> Any:
    """Create the worker's ``app`` lazily, when the celery command first asks for it."""
    if name == "app":
        worker_app = make_celery(load_settings(), include_tasks=True)
        globals()["app"] = worker_app
        return worker_app
    raise AttributeError(name)
