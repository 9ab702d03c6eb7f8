"""Pool processes killed mid-job, with real processes: the job resumes, ends cancelled, or
ends failed once its deaths are counted. (Whole workers stopped or lost:
``test_stopped_and_lost_workers.py``.)
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import requests

from api.keys import key_digest
from tests.fixtures.live import API_KEY, Env, LiveAPI, WorkerProcess
from tests.helpers import submit_running, wait_for, wait_status

Start = Callable[..., WorkerProcess]
CHECKPOINT_EVERY = 4


def test_killed_worker_child_job_resumes_from_last_checkpoint(
    live_api: LiveAPI, start_worker: Start
) -> None:
    worker = start_worker()
    job, poll = submit_running(live_api, 60, 2 * CHECKPOINT_EVERY, CHECKPOINT_EVERY)
    [child] = worker.child_pids()
    before_kill = live_api.env.store().get(job["id"]).progress.iteration  # type: ignore[union-attr]
    os.kill(child, signal.SIGKILL)
    final = wait_status(poll, {"succeeded", "failed", "cancelled"}, timeout=180)
    assert final["status"] == "succeeded", final
    assert final["attempts"] == 2
    resumed = final["resumed_from_iteration"]
    assert resumed is not None and resumed >= before_kill > 0
    assert final["progress"]["iteration"] == 60
    assert "Process 'ForkPoolWorker" in worker.output() or "WorkerLostError" in worker.output()


def test_cancelled_job_whose_worker_child_is_killed_ends_cancelled(
    live_api: LiveAPI, start_worker: Start
) -> None:
    """Found from outside: the redelivered job was skipped, then swept back to queued for good."""
    worker = start_worker()
    job, poll = submit_running(live_api, 2000, 50, checkpoint_every=50)
    [child] = worker.child_pids()
    cancel = requests.post(
        f"{live_api.url}/v1/jobs/{job['id']}/cancel", headers=live_api.headers, timeout=10
    )
    os.kill(child, signal.SIGKILL)  # before its next checkpoint could honour the cancel
    assert cancel.status_code == 202 and cancel.json()["status"] == "running"
    final = wait_status(poll, {"succeeded", "failed", "cancelled"}, timeout=120)
    assert final["status"] == "cancelled", final
    owner = key_digest(API_KEY)[:16]
    assert live_api.env.store().active_count(owner) == 0  # its quota slot is free again


def test_a_job_whose_worker_process_dies_every_time_ends_failed_worker_lost(
    live_api: LiveAPI, start_worker: Start
) -> None:
    """mark_running took over after every death, uncapped: six kills gave seven attempts.

    The sweeper is kept out of it (stale after 10 min): a dead pool process's job comes back to
    the same worker at once, and only the claim can count the deaths.
    """
    env = Env(
        {**live_api.env.values, "NST_MAX_REDELIVERIES": "1", "NST_STALE_AFTER_SECONDS": "600"}
    )
    worker = start_worker(env=env)
    _, poll = submit_running(live_api, 2000, 2, checkpoint_every=2)
    [child] = worker.child_pids()
    os.kill(child, signal.SIGKILL)

    def taken_over() -> bool:
        seen = poll()
        return seen["attempts"] == 2 and seen["status"] == "running"

    wait_for(taken_over, 180, "the one allowed takeover")
    [child] = worker.child_pids()
    os.kill(child, signal.SIGKILL)
    final = wait_status(poll, {"succeeded", "failed", "cancelled"}, timeout=180)
    assert (final["status"], final["error"]["code"]) == ("failed", "worker_lost"), final
    assert final["attempts"] == 2
    assert live_api.env.store().active_count(key_digest(API_KEY)[:16]) == 0
