"""Helpers every test folder shares: free ports, waiting on a condition, submitting a job.

``free_port`` and ``wait_for`` are the harness's (one definition for tests and benchmarks);
they are re-exported here because every test folder imports them from this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import requests

from contract.jobs import Job, JobStatus, JobTiming, Progress, new_job_id
from contract.params import JobParams
from harness.ports import free_port
from harness.waits import wait_for
from shared.storage import JobKeys
from tests.images import content_bytes, style_bytes

if TYPE_CHECKING:
    from tests.fixtures.live import Env, LiveAPI

__all__ = [
    "free_port",
    "poller",
    "record_finished_job",
    "submit",
    "submit_running",
    "wait_for",
    "wait_status",
]

Poll = Callable[[], dict[str, Any]]


def submit(api: LiveAPI, **params: Any) -> dict[str, Any]:
    """Submit a small real job (48 px, 6 Adam iterations unless overridden); assert 202.

    Early stop is off unless asked for: fault and cancel tests need a job that is still
    running when the fault lands, not one whose tiny picture settled first.
    """
    files = [
        ("content", ("c.jpg", content_bytes(64), "image/jpeg")),
        ("style", ("s.jpg", style_bytes(64), "image/jpeg")),
    ]
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

    Fault tests start here: they break something while the job is known to be running and
    resumable. Progress is recorded at once but its state is uploaded in the background, so
    the state is awaited in storage too: a loaded machine killed a worker between the two, and
    the job restarted from scratch. The timeouts are generous: on a loaded 2-core machine
    starting a worker and compiling its first step can take minutes.
    """
    job = submit(api, iterations=iterations, checkpoint_every=checkpoint_every, size=32)
    poll = poller(api, job["id"])
    wait_for(
        lambda: (poll().get("progress") or {}).get("iteration", 0) >= past,
        300,
        f"a checkpoint at iteration {past}",
        every=0.2,
    )
    storage, state = api.env.storage(), JobKeys(job["id"]).state
    wait_for(lambda: storage.exists(state), 120, "the checkpoint's state in storage")
    return job, poll


def wait_status(poll: Poll, statuses: set[str], timeout: float = 180) -> dict[str, Any]:
    """Poll until the job's status is one of ``statuses``; return the job."""
    seen: dict[str, Any] = {}

    def reached() -> bool:
        seen.update(poll())
        return seen["status"] in statuses

    wait_for(reached, timeout, f"status in {statuses}", every=0.1)
    return seen


def record_finished_job(
    env: Env, size: int, iterations: int, optimize: float, compile_: float = 0.0
) -> Job:
    """Record in the job store, as a worker does, a job that succeeded after ``iterations`` at
    ``size``, optimizing for ``optimize`` s (``compile_`` of them compiling); queued 1 s, 2 s of
    start. What ``/v1/meta``'s ``speed`` is measured from, without running the engine."""
    worker = "w@host"
    store = env.store()
    params = JobParams(size=size, iterations=iterations)
    job = store.create(Job(id=new_job_id(), owner="someone", params=params, style_count=1))
    store.mark_running(job.id, worker, stale_after=60)
    progress = Progress(iteration=iterations, total=iterations, elapsed_seconds=optimize)
    store.record_progress(job.id, worker, progress, has_preview=False)
    timing = JobTiming(
        queued_seconds=1.0,
        compile_seconds=compile_,
        optimize_seconds=optimize,
        checkpoint_seconds=0.0,
        total_seconds=1.0 + optimize + 2.0,
    )
    finished = store.finish(job.id, JobStatus.SUCCEEDED, timing=lambda _: timing)
    assert finished is not None
    return finished


@contextmanager
def outage(
    seconds: float, stop: Callable[[], object], start: Callable[[], object]
) -> Iterator[None]:
    """Take a service away for exactly ``seconds`` from the moment it stops, then bring it back.

    The block waits for what must happen meanwhile (conditions, with timeouts); the service comes
    back ``seconds`` after it went, or when the block is done if that is later. The only wait
    for time is the outage's own length, which is what the test is about.
    """
    stop()
    back_at = time.monotonic() + seconds
    try:
        yield
    finally:
        time.sleep(max(0.0, back_at - time.monotonic()))
        start()
