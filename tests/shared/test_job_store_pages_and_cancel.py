"""The job store's cursor pages and its cancel/delete guards, against the real Redis."""

from __future__ import annotations

import pytest
import redis

from contract.errors import JobActive, JobFinished
from contract.jobs import Job, JobStatus, new_job_id
from contract.params import JobParams
from shared.job_store import JobStore


@pytest.fixture
def store(redis_url: str, key_prefix: str) -> JobStore:
    return JobStore(redis.Redis.from_url(redis_url), key_prefix)


def new_job(created_at: float) -> Job:
    job = Job(id=new_job_id(), owner="alice", params=JobParams(size=64), style_count=1)
    job.created_at = created_at
    return job


def test_a_status_filter_finds_its_jobs_past_a_batch_of_others(store: JobStore) -> None:
    """The scan reads the sorted set 200 at a time; a match behind 250 others is still found."""
    oldest = store.create(new_job(1.0))
    store.request_cancel(oldest.id, "alice")
    for i in range(250):
        store.create(new_job(10.0 + i))
    [found] = store.page_for_owner("alice", JobStatus.CANCELLED, None, 5)
    assert found.id == oldest.id
    assert store.page_for_owner("alice", JobStatus.CANCELLED, (found.created_at, found.id), 5) == []


def test_a_page_skips_records_that_expired(store: JobStore) -> None:
    jobs = [store.create(new_job(100.0 + i)) for i in range(4)]
    store.redis.delete(f"{store.prefix}:job:{jobs[2].id}")  # its record's TTL ran out
    page = store.page_for_owner("alice", None, None, 2)
    assert [j.id for j in page] == [jobs[3].id, jobs[1].id]
    rest = store.page_for_owner("alice", None, (page[-1].created_at, page[-1].id), 2)
    assert [j.id for j in rest] == [jobs[0].id]


def test_cancel_of_a_succeeded_job_raises_and_changes_nothing(store: JobStore) -> None:
    job = store.create(new_job(1.0))
    store.mark_running(job.id, "w", stale_after=60)
    done = store.finish(job.id, JobStatus.SUCCEEDED)
    assert done is not None
    with pytest.raises(JobFinished, match="already succeeded"):
        store.request_cancel(job.id, "alice")
    after = store.get(job.id)
    assert after.version == done.version and not after.cancel_requested


def test_images_of_an_active_job_are_never_marked_deleted(store: JobStore) -> None:
    job = store.create(new_job(1.0))
    with pytest.raises(JobActive):
        store.check_deletable(job.id, "alice")
    with pytest.raises(JobActive):
        store.mark_data_deleted(job.id)
    assert store.get(job.id).data_deleted_at is None
