"""Worker process lifetime: load the model once per process, drain on shutdown, sweep.

TensorFlow is initialized in each pool child after the fork (``worker_process_init``),
never in the prefork parent, and the model is reused for every job that child runs.
The parent process marks itself draining when a warm shutdown starts, so the
running job hands itself back at its next checkpoint, and runs the sweeper that
requeues jobs whose worker vanished. ``WorkerLifecycle.connect`` wires these to Celery's
signals; ``worker/celery_app.py`` calls it where the app is made.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from celery import Celery, signals

from contract.errors import WeightsUnavailable
from shared.job_store import JobStore
from shared.queue import enqueue_job
from shared.redis_client import client_for
from shared.settings import Settings
from shared.storage import ObjectStorage, open_storage
from shared.webhook_outbox import WebhookNotifier
from worker.context import WorkerContext
from worker.metrics import WorkerMetrics, start_exporter
from worker.retention import purge_expired
from worker.sweeper import sweep_forever

if TYPE_CHECKING:
    from worker.engine_protocols import Engine

log = logging.getLogger(__name__)


def _use_jax_cache(folder: str | None) -> None:
    """Keep JAX's compiled programs in ``folder`` (NST_JAX_CACHE_DIR), across restarts.

    Also: JAX takes GPU memory as it needs it, not 75 % of the card up front, so several
    worker processes can share one GPU (TensorFlow: ``worker/nst/memory.share_gpus``).
    """
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if folder is None:
        return
    import keras

    if keras.backend.backend() == "jax":
        import jax

        jax.config.update("jax_compilation_cache_dir", folder)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def _engine_factory(path: str) -> Callable[[Settings], Engine]:
    """The function NST_ENGINE names ("package.module:factory"); ImportError or AttributeError
    when there is none."""
    module, _, name = path.partition(":")
    return cast("Callable[[Settings], Engine]", getattr(importlib.import_module(module), name))


class WorkerLifecycle:
    """What one worker process builds once (store, storage, engine) and its signal handlers."""

    def __init__(self, app: Celery, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.engine: Engine | None = None
        self.metrics: WorkerMetrics | None = None
        app.nst_lifecycle = self  # the task finds its context here

    def connect(self) -> None:
        """Connect the handlers to Celery's signals (strong references: they live with the app)."""
        signals.worker_init.connect(self.check_weights_or_exit, weak=False)
        signals.worker_process_init.connect(self.load_engine, weak=False)
        signals.worker_ready.connect(self.start_sweeper, weak=False)
        signals.worker_shutting_down.connect(self.drain, weak=False)

    @cached_property
    def store(self) -> JobStore:
        """The job store; whichever path ends a job here (run, sweep) queues its webhook."""
        client = client_for(self.settings, patient=True)
        return JobStore(
            client,
            self.settings.key_prefix,
            self.settings.job_ttl_seconds,
            on_final=self.webhooks.job_finished,
        )

    @cached_property
    def webhooks(self) -> WebhookNotifier:
        return WebhookNotifier(self.app)

    @cached_property
    def storage(self) -> ObjectStorage:
        return open_storage(self.settings)

    def load_engine(self, **_: object) -> None:
        """Build the engine in the pool child, once, before its first job; serve its metrics."""
        self.engine = self._build_engine()
        self.metrics = start_exporter(self.settings.worker_metrics_port)
        choice = getattr(self.engine, "precision_choice", None)  # VGG19's; other engines: none
        if choice is not None:
            self.metrics.precision_chosen(
                choice.precision,
                choice.setting,
                {"float32": choice.float32_seconds, "bfloat16": choice.bfloat16_seconds},
            )

    def _build_engine(self) -> Engine:
        """VGG19, or the engine NST_ENGINE names by import path (``package.module:factory``).

        The worker knows engines only by the ``Engine`` protocol: a factory, called with the
        settings, may return any engine that fits it. Benchmarks and tests name the simulated
        engine this way (``benchmarks/simulated_engine.py``: no GPU, no TensorFlow import).
        """
        settings = self.settings
        if settings.engine != "vgg19":
            log.warning("NST_ENGINE=%s: not the VGG19 engine", settings.engine)
            return _engine_factory(settings.engine)(settings)
        _use_jax_cache(settings.jax_cache_dir)
        from worker.nst.engine import StyleTransfer

        engine = StyleTransfer(
            settings.vgg19_weights,
            jit_compile=settings.xla == "on",
            max_compiled_steps=settings.compiled_steps,
            shape_bucket=settings.shape_bucket,
            precision=settings.precision,
        )
        for size in settings.warmup_sizes:
            width, _, height = size.partition("x")
            log.info("warming up %s: %.1f s", size, engine.warm_up(int(width), int(height)))
        return engine

    def context(self, worker_name: str) -> WorkerContext:
        """The per-process context a job runs with (the engine is built if the hook did not run)."""
        if self.engine is None or self.metrics is None:
            self.load_engine()
        assert self.engine is not None and self.metrics is not None
        return WorkerContext(
            self.settings,
            self.store,
            self.storage,
            self.engine,
            worker_name,
            self.metrics,
            self.webhooks,
        )

    def check_weights_or_exit(self, **_: object) -> None:
        """Stop the worker at start-up, exit status 2, when the configured weights cannot be used.

        Celery logs and swallows exceptions from signal handlers, so a plain raise here would
        leave a worker that says "ready" and cannot run a job; SystemExit is not swallowed.
        """
        if self.settings.engine != "vgg19":  # another engine: its weights are its own business
            try:
                _engine_factory(self.settings.engine)
            except (ImportError, AttributeError) as exc:
                log.critical("cannot start: NST_ENGINE=%s: %s", self.settings.engine, exc)
                raise SystemExit(2) from None
            return
        from worker.weights import check_weights

        try:
            check_weights(self.settings.vgg19_weights)
        except WeightsUnavailable as exc:
            log.critical("cannot start: %s", exc)
            raise SystemExit(2) from None

    def start_sweeper(self, sender: Any = None, **_: object) -> None:
        """Clear a stale draining flag for this name and start the sweeper thread."""
        self.store.clear_draining(sender.hostname)
        thread = threading.Thread(
            target=sweep_forever,
            args=(self.store, self.settings, lambda job_id: enqueue_job(self.app, job_id)),
            kwargs={"housekeeping": lambda: purge_expired(self.store, self.storage, self.settings)},
            name="nst-sweeper",
            daemon=True,
        )
        thread.start()

    def drain(self, sender: Any = None, **_: object) -> None:
        """Ask the running job to checkpoint and hand itself back."""
        self.store.set_draining(str(sender))
        log.info("draining %s: running jobs hand back at their next checkpoint", sender)
