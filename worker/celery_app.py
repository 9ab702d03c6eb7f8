"""The worker's Celery application and every consumer-side Celery setting.

``create_worker_app`` builds the app and connects the worker's signal handlers
(``worker/lifecycle.py``) here, explicitly; ``worker/main.py`` is the entry point the
``celery`` command loads. The webhook consumer's app is ``worker/webhooks/consumer.py``'s: a
separate, cheap deployment on its own queue, so no GPU worker waits on a receiver. Producer
settings shared with the API come from ``shared.queue``.

Settings chosen against Celery's known traps for long GPU jobs:
- late acks + reject on worker loss: a job is acknowledged only when it has
  ended, and a killed child process puts its message back (celery#1628);
- prefetch of one: a busy GPU worker never holds a second job hostage;
- Redis ``visibility_timeout`` above the hard time limit, the same for broker
  and result backend, so a live job is not redelivered (celery#5935, #4400);
- a memory ceiling per pool process, checked by Celery between tasks only, so a
  process that grew (new image shapes compile new graphs) is replaced, never mid-job.
"""

from __future__ import annotations

from celery import Celery

from shared.queue import broker_config
from shared.settings import Settings, load_settings
from worker.lifecycle import WorkerLifecycle


def worker_config(settings: Settings) -> dict[str, object]:
    """Consumer-only settings: how a GPU worker takes, runs and acknowledges jobs."""
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": settings.worker_concurrency,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "broker_connection_max_retries": broker_retries_within(settings.broker_lost_exit_seconds),
        "task_time_limit": settings.job_time_limit_seconds,
        "task_soft_time_limit": max(settings.job_time_limit_seconds - 30, 5),
        "worker_proc_alive_timeout": 180,  # the pool child loads VGG19 before it reports up
        "worker_max_memory_per_child": settings.worker_max_memory_mb * 1024 or None,  # KiB
        "include": ["worker.tasks"],
    }


def broker_retries_within(seconds: float) -> int:
    """Reconnection attempts that span at least ``seconds`` of broker outage.

    Celery's consumer reconnects with kombu's default schedule: waits of 2, 4, 6, ... seconds,
    at most 30 each (``Connection.ensure_connection``); after that many failed attempts the
    worker gives up.
    """
    waited, retries = 0.0, 0
    while waited < seconds:
        retries += 1
        waited += min(2.0 * retries, 30.0)
    return retries


def create_worker_app(settings: Settings | None = None) -> Celery:
    """Build the worker's app for settings (default: the environment) and connect its signals."""
    settings = settings or load_settings()
    app = Celery("nst")
    app.conf.update(broker_config(settings))
    app.conf.update(worker_config(settings))
    WorkerLifecycle(app, settings).connect()
    return app
