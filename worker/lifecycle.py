"""Worker process lifetime: load the model once per process, drain on shutdown, sweep.

TensorFlow is initialized in each pool child after the fork (``worker_process_init``),
never in the prefork parent, and the model is reused for every job that child runs.
The parent process marks itself draining when a warm shutdown starts, so the
running job hands itself back at its next checkpoint, and runs the sweeper that
requeues jobs whose worker vanished.
"""

from __future__ import annotations

import logging
import threading
from functools import cache
from typing import Any

from celery import signals

from shared.errors import WeightsUnavailable
from shared.job_store import JobStore
from shared.redis_client import connect
from shared.settings import Settings
from shared.storage import ObjectStorage, open_storage
from worker.metrics import WorkerMetrics, start_exporter
from worker.runner import WorkerContext
from worker.sweeper import sweep_forever

log = logging.getLogger(__name__)
_engine: Any = None
_metrics: WorkerMetrics | None = None


def _settings() -> Settings:
    from worker.celery_app import app

    settings: Settings = app.conf.nst_settings
    return settings


@cache
def _store(settings: Settings) -> JobStore:
    client = connect(settings.redis_url, patient=True)
    return JobStore(client, settings.key_prefix, settings.job_ttl_seconds)


@cache
def _storage(settings: Settings) -> ObjectStorage:
    return open_storage(settings)


@signals.worker_process_init.connect
def load_engine(**_: object) -> None:
    """Build VGG19 in the pool child, once, before its first job, and serve its metrics."""
    global _engine, _metrics
    from worker.nst import StyleTransfer

    settings = _settings()
    _engine = StyleTransfer(settings.vgg19_weights, jit_compile=settings.xla == "on")
    _metrics = start_exporter(settings.worker_metrics_port)


def worker_context(worker_name: str) -> WorkerContext:
    """The per-process context a job runs with (the engine is built if the hook did not run)."""
    if _engine is None or _metrics is None:
        load_engine()
    settings = _settings()
    assert _metrics is not None
    return WorkerContext(
        settings, _store(settings), _storage(settings), _engine, worker_name, _metrics
    )


@signals.worker_init.connect
def check_weights_or_exit(**_: object) -> None:
    """Stop the worker at start-up, exit status 2, when the configured weights cannot be used.

    Celery logs and swallows exceptions from signal handlers, so a plain raise here would leave
    a worker that says "ready" and cannot run a job; SystemExit is not swallowed.
    """
    from worker.weights import check_weights

    try:
        check_weights(_settings().vgg19_weights)
    except WeightsUnavailable as exc:
        log.critical("cannot start: %s", exc)
        raise SystemExit(2) from None


@signals.worker_ready.connect
def start_sweeper(sender: Any = None, **_: object) -> None:
    """Clear a stale draining flag for this name and start the sweeper thread."""
    settings = _settings()
    store = _store(settings)
    store.clear_draining(sender.hostname)
    from worker.celery_app import app, enqueue_job

    thread = threading.Thread(
        target=sweep_forever, args=(store, settings, lambda job_id: enqueue_job(app, job_id)),
        name="nst-sweeper", daemon=True,
    )  # fmt: skip
    thread.start()


@signals.worker_shutting_down.connect
def drain(sender: Any = None, **_: object) -> None:
    """Ask the running job to checkpoint and hand itself back."""
    settings = _settings()
    _store(settings).set_draining(str(sender))
    log.info("draining %s: running jobs hand back at their next checkpoint", sender)
