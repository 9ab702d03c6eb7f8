"""The worker's own Prometheus exporter, scraped after a real job."""

from __future__ import annotations

import re
from collections.abc import Callable

import requests

from tests.fixtures.live import Env, LiveAPI, WorkerProcess
from tests.helpers import free_port, poller, submit, wait_status


def sample(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, f"{name} not in metrics"
    return float(match.group(1))


def test_worker_exports_job_iteration_and_checkpoint_metrics(
    live_api: LiveAPI, start_worker: Callable[..., WorkerProcess]
) -> None:
    port = free_port()
    # Reports by iteration only (every 2 of 8: at 2, 4, 6, 8, so 3 paces between them): progress
    # and state by time are pushed out of reach, else a loaded machine that takes 2 s between
    # two checkpoints adds a report, and a pace (it got 4.0 == 3).
    by_iteration = {"NST_PROGRESS_SECONDS": "60", "NST_CHECKPOINT_SECONDS": "3600"}
    metrics = {"NST_WORKER_METRICS_PORT": str(port)}
    start_worker(env=Env({**live_api.env.values, **metrics, **by_iteration}))
    job = submit(live_api, iterations=8, checkpoint_every=2, size=32)
    assert (
        wait_status(poller(live_api, job["id"]), {"succeeded", "failed"})["status"] == "succeeded"
    )
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert sample(text, 'nst_worker_jobs_total{outcome="succeeded"}') == 1
    assert sample(text, 'nst_worker_job_seconds_count{outcome="succeeded"}') == 1
    # 4 states and 4 previews, uploaded in the background (a newer one may replace a waiting one)
    assert 4 <= sample(text, "nst_worker_checkpoint_write_seconds_count") <= 8
    assert sample(text, "nst_compile_seconds_count") == 1
    assert sample(text, "nst_compile_seconds_sum") > 0
    assert sample(text, "nst_worker_iteration_seconds_count") == 3
