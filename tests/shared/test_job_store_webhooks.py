"""The job store's side of webhooks: the final transition calls on_final once, and a recorded
delivery attempt keeps the record's expiry (the models are tested in tests/contract)."""

from __future__ import annotations

import threading

import redis

from contract.jobs import Job, JobStatus, new_job_id
from contract.params import JobParams
from contract.webhooks import JobWebhook, WebhookAttempt, WebhookEvent
from shared.job_store import JobStore


def attempt(event: WebhookEvent, number: int = 1) -> WebhookAttempt:
    return WebhookAttempt(message_id="m", event=event, attempt=number, at=0.0, status_code=500)


def hooked_job() -> Job:
    webhook = JobWebhook(url="https://h.example/", events=(WebhookEvent.COMPLETED,))
    return Job(
        id=new_job_id(), owner="alice", params=JobParams(size=64), style_count=1, webhook=webhook
    )


def test_only_the_winner_of_racing_finishes_calls_on_final(redis_url: str, key_prefix: str) -> None:
    ended: list[Job] = []
    store = JobStore(redis.Redis.from_url(redis_url), key_prefix, on_final=ended.append)
    job = store.create(hooked_job())
    store.mark_running(job.id, "w1", stale_after=60)
    barrier = threading.Barrier(6)

    def finish(status: JobStatus) -> None:
        barrier.wait()
        store.finish(job.id, status)

    threads = [
        threading.Thread(target=finish, args=(s,))
        for s in [JobStatus.SUCCEEDED] * 3 + [JobStatus.CANCELLED] * 3
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ended) == 1 and ended[0].status == store.get(job.id).status


def test_a_cancel_while_queued_calls_on_final(redis_url: str, key_prefix: str) -> None:
    ended: list[Job] = []
    store = JobStore(redis.Redis.from_url(redis_url), key_prefix, on_final=ended.append)
    job = store.create(hooked_job())
    store.request_cancel(job.id, "alice")
    assert [j.status for j in ended] == [JobStatus.CANCELLED]


def test_an_attempt_recorded_after_the_end_keeps_the_records_expiry(
    redis_url: str, key_prefix: str
) -> None:
    """Found in review: a plain SET after the final one dropped the TTL: records lived for ever."""
    store = JobStore(redis.Redis.from_url(redis_url), key_prefix, ttl_seconds=3600)
    job = store.create(hooked_job())
    store.finish(job.id, JobStatus.SUCCEEDED)
    key = f"{key_prefix}:job:{job.id}"
    assert 0 < store.redis.ttl(key) <= 3600
    recorded = store.record_webhook_attempt(job.id, attempt(WebhookEvent.COMPLETED))
    assert recorded is not None and len(recorded.webhook.attempts) == 1
    assert 0 < store.redis.ttl(key) <= 3600


def test_an_attempt_for_a_job_without_a_webhook_changes_nothing(
    redis_url: str, key_prefix: str
) -> None:
    store = JobStore(redis.Redis.from_url(redis_url), key_prefix)
    job = store.create(Job(id=new_job_id(), owner="a", params=JobParams(size=64), style_count=1))
    assert store.record_webhook_attempt(job.id, attempt(WebhookEvent.COMPLETED)) is None
    assert store.get(job.id).version == job.version
