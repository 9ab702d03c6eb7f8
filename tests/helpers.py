"""Helpers every test folder shares: free ports, waiting on a condition, submitting a job."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests

from tests.images import content_bytes, style_bytes

if TYPE_CHECKING:
    from tests.fixtures.live import LiveAPI

Poll = Callable[[], dict[str, Any]]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    condition: Callable[[], object], timeout: float, what: str, every: float = 0.05
) -> object:
    """Poll condition until it returns something truthy; fail with what after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def submit(api: LiveAPI, **params: Any) -> dict[str, Any]:
    """Submit a small real job (48 px, 6 Adam iterations unless overridden); assert 202.

    Early stop is off unless asked for: fault and cancel tests need a job that is still
    running when the fault lands, not one whose tiny picture settled first.
    """
    files = [("content", ("c.jpg", content_bytes(64), "image/jpeg")),
             ("style", ("s.jpg", style_bytes(64), "image/jpeg"))]  # fmt: skip
    data = {
        "size": "48",
        "iterations": "6",
        "optimizer": "adam",
        "early_stop": "0",
        **{k: str(v) for k, v in params.items()},
    }
    response = requests.post(
        f"{api.url}/v1/jobs", data=data, files=files, headers=api.headers, timeout=30
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


def poller(api: LiveAPI, job_id: str) -> Poll:
    """A function that GETs the job and returns its JSON."""

    def poll() -> dict[str, Any]:
        response = requests.get(f"{api.url}/v1/jobs/{job_id}", headers=api.headers, timeout=10)
        assert response.status_code == 200
        return dict(response.json())

    return poll


def submit_running(
    api: LiveAPI, iterations: int, past: int, checkpoint_every: int = 2
) -> tuple[dict[str, Any], Poll]:
    """Submit a 32 px job and wait until a worker has checkpointed at ``past`` iterations or more.

    Fault tests start here: they break something while the job is known to be running.
    """
    job = submit(api, iterations=iterations, checkpoint_every=checkpoint_every, size=32)
    poll = poller(api, job["id"])
    wait_for(lambda: (poll().get("progress") or {}).get("iteration", 0) >= past, 120,
             f"a checkpoint at iteration {past}")  # fmt: skip
    return job, poll


def wait_status(poll: Poll, statuses: set[str], timeout: float = 180) -> dict[str, Any]:
    """Poll until the job's status is one of ``statuses``; return the job."""
    seen: dict[str, Any] = {}

    def reached() -> bool:
        seen.update(poll())
        return seen["status"] in statuses

    wait_for(reached, timeout, f"status in {statuses}", every=0.1)
    return seen
