"""NST_PRECISION in a real worker: its /metrics says what it runs in, each job records it."""

from __future__ import annotations

from collections.abc import Callable

import requests

from tests.fixtures.live import Env, LiveAPI, WorkerProcess
from tests.helpers import free_port, poller, submit, wait_status


def test_a_bfloat16_worker_shows_it_in_metrics_and_on_each_job(
    live_api: LiveAPI, start_worker: Callable[..., WorkerProcess]
) -> None:
    port = free_port()
    env = {"NST_WORKER_METRICS_PORT": str(port), "NST_PRECISION": "bfloat16"}
    start_worker(env=Env({**live_api.env.values, **env}))
    job = submit(live_api, iterations=2, size=32)
    done = wait_status(poller(live_api, job["id"]), {"succeeded", "failed"})
    assert done["status"] == "succeeded"
    assert done["timing"]["precision"] == "bfloat16"
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert 'nst_worker_precision{precision="bfloat16",setting="bfloat16"} 1.0' in text
    assert "nst_worker_precision_evaluation_seconds{" not in text  # measured only under auto
