"""Whole workers stopped or lost, and duplicate messages, with real processes: the job is
handed back, swept back, or run once."""

from __future__ import annotations

import time
from collections.abc import Callable

from contract.jobs import JobStatus
from shared.queue import enqueue_job, make_producer
from shared.storage import JobKeys
from tests.fixtures.live import LiveAPI, WorkerProcess
from tests.helpers import poller, submit, submit_running, wait_for, wait_status

Start = Callable[..., WorkerProcess]
CHECKPOINT_EVERY = 4


def test_sigterm_hands_the_job_back_within_a_checkpoint(
    live_api: LiveAPI, start_worker: Start
) -> None:
    first = start_worker("w1")
    job, poll = submit_running(live_api, 100, CHECKPOINT_EVERY, CHECKPOINT_EVERY)
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
