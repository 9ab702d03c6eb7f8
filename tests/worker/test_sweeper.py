"""The sweeper against the real Redis: requeue lost jobs a few times, then fail them."""

from __future__ import annotations

import redis

from contract.jobs import Job, JobStatus, new_job_id
from contract.params import JobParams
from shared.job_store import JobStore
from shared.settings import Settings
from tests.helpers import wait_for
from worker.sweeper import sweep_once

STALE = 0.001  # seconds without a heartbeat before a running job counts as lost


def lost_job(store: JobStore, attempts: int) -> Job:
    job = store.create(Job(id=new_job_id(), owner="o", params=JobParams(size=32), style_count=1))
    for _ in range(attempts):
        store.mark_running(job.id, "gone@host", stale_after=0.0)
    # The tests sweep with a 1 ms staleness; a sweep within 1 ms of the last heartbeat would
    # rightly leave the job alone (this raced once in CI), so let the heartbeat age first.
    wait_for(lambda: job.id in {j.id for j in store.stale_running(STALE)}, 5, "a stale heartbeat")
    return job


def test_stale_job_is_requeued_and_sent_again(redis_url: str, key_prefix: str) -> None:
    store = JobStore(redis.Redis.from_url(redis_url), key_prefix)
    job = lost_job(store, attempts=1)
    sent: list[str] = []
    settings = Settings(stale_after_seconds=STALE, max_redeliveries=2)
    assert sweep_once(store, settings, sent.append) == [job.id]
    assert sent == [job.id] and store.get(job.id).status == JobStatus.QUEUED


def test_job_lost_too_often_fails_with_a_reason(redis_url: str, key_prefix: str) -> None:
    store = JobStore(redis.Redis.from_url(redis_url), key_prefix)
    job = lost_job(store, attempts=3)
    sent: list[str] = []
    assert (
        sweep_once(store, Settings(stale_after_seconds=STALE, max_redeliveries=2), sent.append)
        == []
    )
    failed = store.get(job.id)
    assert sent == [] and failed.status == JobStatus.FAILED
    assert failed.error is not None and failed.error.code == "worker_lost"
    assert "3 times" in failed.error.message


def test_job_with_a_fresh_heartbeat_is_left_alone(redis_url: str, key_prefix: str) -> None:
    store = JobStore(redis.Redis.from_url(redis_url), key_prefix)
    job = lost_job(store, attempts=1)
    assert sweep_once(store, Settings(stale_after_seconds=60), lambda _: None) == []
    assert store.get(job.id).status == JobStatus.RUNNING


def test_lost_job_whose_cancel_was_asked_ends_cancelled_not_queued(
    redis_url: str, key_prefix: str
) -> None:
    """Found from outside: such a job went back to queued for good, holding a quota slot."""
    store = JobStore(redis.Redis.from_url(redis_url), key_prefix)
    job = lost_job(store, attempts=1)
    store.request_cancel(job.id, "o")
    sent: list[str] = []
    assert sweep_once(store, Settings(stale_after_seconds=STALE), sent.append) == []
    assert sent == [] and store.get(job.id).status == JobStatus.CANCELLED
    assert store.active_count("o") == 0


def test_redelivered_job_whose_cancel_was_asked_ends_cancelled(
    redis_url: str, key_prefix: str
) -> None:
    store = JobStore(redis.Redis.from_url(redis_url), key_prefix)
    job = lost_job(store, attempts=1)
    store.request_cancel(job.id, "o")
    assert store.mark_running(job.id, "gone@host", stale_after=60) is None  # never runs again
    assert store.get(job.id).status == JobStatus.CANCELLED
    assert store.active_count("o") == 0


def test_takeovers_after_deaths_stop_at_the_limit_with_worker_lost(
    redis_url: str, key_prefix: str
) -> None:
    """A pool process that dies is replaced and its job redelivered to the same worker: the
    claim, not the sweeper, sees it, and took such a job over for ever (issue 21)."""
    store = JobStore(redis.Redis.from_url(redis_url), key_prefix)
    job = store.create(Job(id=new_job_id(), owner="o", params=JobParams(size=32), style_count=1))
    claims = [store.mark_running(job.id, "w@host", 60, max_takeovers=2) for _ in range(4)]
    assert [claim is not None for claim in claims] == [True, True, True, False]
    failed = store.get(job.id)
    assert failed.status == JobStatus.FAILED and failed.attempts == 3
    assert failed.error is not None and failed.error.code == "worker_lost"
    assert "3 times" in failed.error.message


def test_hand_backs_of_a_draining_worker_are_not_lost_runs(redis_url: str, key_prefix: str) -> None:
    store = JobStore(redis.Redis.from_url(redis_url), key_prefix)
    job = store.create(Job(id=new_job_id(), owner="o", params=JobParams(size=32), style_count=1))
    for _ in range(5):  # five rolling restarts, each handing the job back at a checkpoint
        assert store.mark_running(job.id, "w@host", 60, max_takeovers=1) is not None
        assert store.requeue(job.id, "w@host") is not None
    assert store.mark_running(job.id, "w@host", 60, max_takeovers=1) is not None
    assert store.mark_running(job.id, "w@host", 60, max_takeovers=1) is not None  # one death
    assert store.get(job.id).status == JobStatus.RUNNING
