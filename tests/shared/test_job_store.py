"""Job records in the real Redis: transitions, races, limits, idempotency."""

from __future__ import annotations

import threading

import pytest
import redis

from contract.errors import JobNotFound, TooManyActiveJobs
from contract.jobs import Job, JobFailure, JobStatus, Progress, new_job_id
from contract.params import JobParams
from shared.job_store import JobStore


@pytest.fixture
def store(redis_url: str, key_prefix: str) -> JobStore:
    return JobStore(redis.Redis.from_url(redis_url), key_prefix)


def new_job(owner: str = "alice", created_at: float | None = None) -> Job:
    job = Job(id=new_job_id(), owner=owner, params=JobParams(size=64), style_count=1)
    if created_at is not None:
        job.created_at = created_at
    return job


def test_created_job_is_queued_and_visible_only_to_its_owner(store: JobStore) -> None:
    job = store.create(new_job())
    assert store.get(job.id, "alice").status == JobStatus.QUEUED
    with pytest.raises(JobNotFound):
        store.get(job.id, "mallory")
    assert store.count(JobStatus.QUEUED) == 1


def test_only_one_of_two_racing_finishes_wins(store: JobStore) -> None:
    job = store.create(new_job())
    store.mark_running(job.id, "w1", stale_after=60)
    results: list[Job | None] = []
    barrier = threading.Barrier(8)

    def finish(status: JobStatus) -> None:
        barrier.wait()
        results.append(store.finish(job.id, status))

    threads = [
        threading.Thread(target=finish, args=(JobStatus.SUCCEEDED if i % 2 else JobStatus.FAILED,))
        for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert store.get(job.id).status == winners[0].status
    assert store.count(JobStatus.RUNNING) == 0 and store.active_count("alice") == 0


def test_duplicate_delivery_of_a_finished_job_is_not_claimed(store: JobStore) -> None:
    job = store.create(new_job())
    store.mark_running(job.id, "w1", stale_after=60)
    store.finish(job.id, JobStatus.SUCCEEDED)
    assert store.mark_running(job.id, "w2", stale_after=60) is None
    assert store.get(job.id).attempts == 1


def test_running_job_with_live_heartbeat_is_not_taken_by_another_worker(store: JobStore) -> None:
    job = store.create(new_job())
    store.mark_running(job.id, "w1", stale_after=60)
    assert store.mark_running(job.id, "w2", stale_after=60) is None
    assert store.mark_running(job.id, "w1", stale_after=60) is not None  # its own restarted child


def test_stale_running_job_can_be_taken_over(store: JobStore) -> None:
    job = store.create(new_job())
    store.mark_running(job.id, "w1", stale_after=60)
    claimed = store.mark_running(job.id, "w2", stale_after=0.0)
    assert claimed is not None and claimed.worker == "w2" and claimed.attempts == 2


def test_cancel_of_queued_job_is_immediate_and_running_job_is_flagged(store: JobStore) -> None:
    queued = store.create(new_job())
    running = store.create(new_job())
    store.mark_running(running.id, "w1", stale_after=60)
    assert store.request_cancel(queued.id, "alice").status == JobStatus.CANCELLED
    flagged = store.request_cancel(running.id, "alice")
    assert flagged.status == JobStatus.RUNNING and flagged.cancel_requested
    assert store.mark_running(queued.id, "w1", stale_after=60) is None


def test_progress_from_a_worker_that_lost_the_job_is_refused(store: JobStore) -> None:
    job = store.create(new_job())
    store.mark_running(job.id, "w1", stale_after=60)
    store.requeue(job.id, "w1")
    assert store.record_progress(job.id, "w1", Progress(iteration=2, total=10), True) is None


def test_active_job_limit_per_owner(store: JobStore) -> None:
    first = store.create(new_job(), max_active=2)
    store.create(new_job(), max_active=2)
    with pytest.raises(TooManyActiveJobs):
        store.create(new_job(), max_active=2)
    store.create(new_job(owner="bob"), max_active=2)  # other owners are not affected
    store.mark_running(first.id, "w1", stale_after=60)
    store.finish(first.id, JobStatus.FAILED, JobFailure(code="x", message="y"))
    store.create(new_job(), max_active=2)


def test_idempotency_key_returns_the_first_job(store: JobStore) -> None:
    first = store.create(new_job(), idempotency_key="abc")
    second = store.create(new_job(), idempotency_key="abc")
    assert second.id == first.id
    assert store.find_by_idempotency_key("alice", "abc").id == first.id  # type: ignore[union-attr]
    assert store.find_by_idempotency_key("bob", "abc") is None


def test_list_is_newest_first_with_status_filter_and_paging(store: JobStore) -> None:
    jobs = [store.create(new_job(created_at=1000.0 + i)) for i in range(5)]
    store.request_cancel(jobs[1].id, "alice")
    listed = store.list_for_owner("alice", None, offset=0, limit=3)
    assert [j.id for j in listed] == [jobs[4].id, jobs[3].id, jobs[2].id]
    assert [j.id for j in store.list_for_owner("alice", None, 3, 3)] == [jobs[1].id, jobs[0].id]
    cancelled = store.list_for_owner("alice", JobStatus.CANCELLED, 0, 10)
    assert [j.id for j in cancelled] == [jobs[1].id]


def test_finished_counts_by_status_and_reason(store: JobStore) -> None:
    job = store.create(new_job())
    store.mark_running(job.id, "w1", stale_after=60)
    store.finish(job.id, JobStatus.FAILED, JobFailure(code="invalid_image", message="bad"))
    assert store.finished_counts() == {("failed", "invalid_image"): 1}
