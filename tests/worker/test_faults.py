"""Faults survived with real processes: killed, stopped and lost workers, duplicate messages."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import requests

from api.keys import key_digest
from contract.jobs import JobStatus
from shared.queue import enqueue_job, make_producer
from shared.storage import JobKeys
from tests.fixtures.live import API_KEY, Env, LiveAPI, WorkerProcess
from tests.helpers import poller, submit, submit_running, wait_for, wait_status

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


def test_sigterm_hands_the_job_back_within_a_checkpoint(
    live_api: LiveAPI, start_worker: Start
) -> None:
    first = start_worker("w1")
    job, poll = submit_running(live_api, 300, CHECKPOINT_EVERY, CHECKPOINT_EVERY)
    started = time.monotonic()
    assert first.stop(timeout=60) == 0
    assert time.monotonic() - started < 60
    handed_back = live_api.env.store().get(job["id"])
    assert handed_back.status == JobStatus.QUEUED, handed_back
    assert live_api.env.store().redis.llen(live_api.env.values["NST_QUEUE"]) == 1
    start_worker("w2")
    final = wait_status(poll, {"succeeded", "failed"}, timeout=240)
    assert final["status"] == "succeeded" and final["resumed_from_iteration"] >= CHECKPOINT_EVERY


def test_vanished_worker_job_is_requeued_by_the_sweeper(
    live_api: LiveAPI, start_worker: Start
) -> None:
    lost = start_worker("lost")
    _, poll = submit_running(live_api, 60, CHECKPOINT_EVERY, CHECKPOINT_EVERY)
    lost.kill()  # parent and child: the message stays unacknowledged until the visibility timeout
    start_worker("rescuer")
    final = wait_status(poll, {"succeeded", "failed"}, timeout=240)
    assert final["status"] == "succeeded" and final["attempts"] == 2
    assert final["resumed_from_iteration"] >= CHECKPOINT_EVERY


def test_duplicate_delivery_runs_once_and_ends_in_one_state(
    live_api: LiveAPI, start_worker: Start
) -> None:
    env = live_api.env
    job = submit(live_api, iterations=12, checkpoint_every=CHECKPOINT_EVERY, size=32)
    producer = make_producer(env.settings())
    enqueue_job(producer, job["id"])  # a second message for the same job, as a redelivery would be
    start_worker("a")
    start_worker("b")
    final = wait_status(poller(live_api, job["id"]), {"succeeded", "failed"}, timeout=180)
    assert final["status"] == "succeeded"
    wait_for(
        lambda: env.store().redis.llen(env.values["NST_QUEUE"]) == 0, 60, "both messages consumed"
    )
    result = env.storage().get(JobKeys(job["id"]).result)
    enqueue_job(producer, job["id"])  # and once more after it finished
    wait_for(lambda: env.store().redis.llen(env.values["NST_QUEUE"]) == 0, 60, "the late duplicate")
    again = env.store().get(job["id"])
    assert again.status == JobStatus.SUCCEEDED and again.attempts == 1
    assert env.storage().get(JobKeys(job["id"]).result) == result
    assert env.store().finished_counts() == {("succeeded", "succeeded"): 1}


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
