"""Worker-side Prometheus metrics, served by a small HTTP exporter in each pool process.

A GPU worker runs one pool process (concurrency 1), so one exporter per process
on NST_WORKER_METRICS_PORT needs no multiprocess registry. Port 0 turns it off
(tests run several workers on one machine). Queue-wide figures (queued, running,
finished by reason) come from the API's /metrics, which reads them from Redis.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)
FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
SECONDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class WorkerMetrics:
    """The figures one worker process reports about the jobs it ran."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.jobs = Counter(
            "nst_worker_jobs",
            "Jobs this worker ended, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.job_seconds = Histogram(
            "nst_worker_job_seconds",
            "Wall time of one run of a job, by outcome.",
            ["outcome"],
            registry=self.registry,
            buckets=SECONDS,
        )
        self.iteration_seconds = Histogram(
            "nst_worker_iteration_seconds",
            "Seconds per optimizer iteration.",
            registry=self.registry,
            buckets=FAST,
        )
        self.compile_seconds = Histogram(
            "nst_compile_seconds",
            "Seconds a job spent compiling steps for new image shapes (0: all were cached).",
            registry=self.registry,
            buckets=(0.0, 0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120),
        )
        self.checkpoint_write_seconds = Histogram(
            "nst_worker_checkpoint_write_seconds",
            "Time to upload one checkpoint object (state or preview), in the background.",
            registry=self.registry,
            buckets=FAST,
        )

        self.precision = Gauge(
            "nst_worker_precision",
            "1 for the precision VGG19's convolutions run in, with the NST_PRECISION setting.",
            ["precision", "setting"],
            registry=self.registry,
        )
        self.precision_seconds = Gauge(
            "nst_worker_precision_evaluation_seconds",
            "NST_PRECISION=auto: seconds per loss-and-gradient evaluation measured at start.",
            ["precision"],
            registry=self.registry,
        )

    def precision_chosen(
        self, precision: str, setting: str, measured: dict[str, float | None]
    ) -> None:
        """Show what the engine runs in, and what ``auto`` measured to choose it."""
        self.precision.labels(precision, setting).set(1)
        for name, seconds in measured.items():
            if seconds is not None:
                self.precision_seconds.labels(name).set(seconds)

    def job_ended(self, outcome: str, seconds: float) -> None:
        self.jobs.labels(outcome).inc()
        self.job_seconds.labels(outcome).observe(seconds)

    @contextmanager
    def checkpoint_write(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.checkpoint_write_seconds.observe(time.perf_counter() - started)


def start_exporter(port: int) -> WorkerMetrics:
    """Metrics for this process, served on port unless it is 0 or already taken."""
    metrics = WorkerMetrics()
    if port:
        try:
            start_http_server(port, addr="0.0.0.0", registry=metrics.registry)
        except OSError as exc:
            log.warning("worker metrics not served on port %s: %s", port, exc)
    return metrics
