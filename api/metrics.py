"""Prometheus metrics at ``GET /metrics``.

Request latency is measured in this process. Job counts and queue length are
read from Redis at scrape time by a collector, so every API replica reports the
same numbers and nothing needs a multiprocess registry: that is what the KEDA
trigger scales workers on (queued + running, not the raw list length).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.container import Services
from contract.jobs import JobStatus
from shared.queue import queue_length

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class JobCollector(Collector):
    """Job and queue figures from the job store and the broker, read when scraped."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc

    def collect(self) -> Iterator[Metric]:
        store = self.svc.store
        queued = GaugeMetricFamily("nst_jobs_queued", "Jobs waiting for a worker.")
        queued.add_metric([], store.count(JobStatus.QUEUED))
        running = GaugeMetricFamily("nst_jobs_running", "Jobs a worker is running now.")
        running.add_metric([], store.count(JobStatus.RUNNING))
        backlog = GaugeMetricFamily("nst_queue_length", "Messages waiting in the Celery queue.")
        backlog.add_metric([], queue_length(self.svc.queue))
        finished = CounterMetricFamily(
            "nst_jobs_finished",
            "Jobs that ended, by final status and reason.",
            labels=["status", "reason"],
        )
        for (status, reason), count in sorted(store.finished_counts().items()):
            finished.add_metric([status, reason], count)
        submitted = CounterMetricFamily("nst_jobs_submitted", "Jobs accepted by the API.")
        submitted.add_metric([], store.submitted_count())
        yield from (queued, running, backlog, submitted, finished)


def init_app(app: Flask) -> None:
    registry = CollectorRegistry()
    latency = Histogram(
        "nst_api_request_seconds",
        "API request latency by route and status.",
        ["method", "route", "status"],
        registry=registry,
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    )
    registry.register(JobCollector(app.extensions["nst"]))
    app.extensions["nst_metrics"] = registry

    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def observe(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        latency.labels(request.method, route, str(response.status_code)).observe(elapsed)
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE)
