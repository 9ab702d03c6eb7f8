"""Job records in Redis, changed only by compare-and-set transactions.

Every state change runs under WATCH/MULTI on the job's key, so two workers (a
redelivered message), a worker and a cancelling client, or a worker and the
sweeper can never both win: the loser sees the new state and backs off. Small
sets beside the records keep the counts the API needs cheap: active jobs per
owner (for the per-key limit), and queued/running ids (for metrics and the
sweeper).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import cast

import redis

from contract.errors import JobActive, JobFinished, JobNotFound, TooManyActiveJobs, WorkerLost
from contract.jobs import Job, JobFailure, JobStatus, JobTiming, LossWeights, Progress
from contract.webhooks import WebhookAttempt

Mutation = Callable[[Job], Job | None]
# The events channel's last part when a job leaves the queue (job ids are UUIDs: no clash).
QUEUE_MOVED = "queue"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class JobStore:
    """CRUD and state transitions of job records; one instance per process is enough."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "nst",
        ttl_seconds: int = 30 * 86400,
        on_final: Callable[[Job], None] | None = None,
    ) -> None:
        """``on_final`` is called with a job right after this store's transaction ended it.

        Only the winner of the compare-and-set calls it, so it runs once per job whichever
        path ended it (worker, sweeper, a cancel while queued); it must not raise (the webhook
        notifier, ``shared/webhook_outbox.py``, logs its own failures).
        """
        self.redis = client
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self.on_final = on_final

    # -- keys -------------------------------------------------------------------------------
    def _job_key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def _owner_jobs_key(self, owner: str) -> str:
        return f"{self.prefix}:owner:{owner}:jobs"

    def _owner_active_key(self, owner: str) -> str:
        return f"{self.prefix}:owner:{owner}:active"

    def _status_key(self, status: JobStatus) -> str:
        return f"{self.prefix}:status:{status.value}"

    def _queue_key(self) -> str:
        """Queued jobs by the time they joined the queue: their position is their rank."""
        return f"{self.prefix}:queue"

    def _retention_key(self) -> str:
        """Finished jobs whose images are still stored, by when they finished."""
        return f"{self.prefix}:retention"

    def events_channel(self, job_id: str) -> str:
        """The pub/sub channel every change of the job is announced on (its new version)."""
        return f"{self.prefix}:events:{job_id}"

    def events_pattern(self) -> str:
        return f"{self.prefix}:events:*"

    def queue_channel(self) -> str:
        """Announced on when a job leaves the queue: every job behind it moved up one place."""
        return self.events_channel(QUEUE_MOVED)

    def _finished_key(self) -> str:
        return f"{self.prefix}:stats:finished"

    def _idempotency_key(self, owner: str, key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return f"{self.prefix}:idem:{owner}:{digest}"

    # -- reads ------------------------------------------------------------------------------
    def ping(self) -> None:
        """Raise redis' ConnectionError or TimeoutError unless the job store answers."""
        self.redis.ping()

    def get(self, job_id: str, owner: str | None = None) -> Job:
        """Return the job; JobNotFound if it is unknown or belongs to another owner."""
        raw = self.redis.get(self._job_key(job_id))
        if raw is None:
            raise JobNotFound(f"no job {job_id}")
        job = Job.model_validate_json(raw)
        if owner is not None and job.owner != owner:
            raise JobNotFound(f"no job {job_id}")
        return job

    def list_for_owner(
        self, owner: str, status: JobStatus | None, offset: int, limit: int
    ) -> list[Job]:
        """The owner's jobs, newest first, skipping ``offset`` (deprecated ``?offset=``).

        An offset repeats jobs when new ones arrive between two pages: ``page_for_owner``.
        """
        jobs: list[Job] = []
        cursor = 0
        skipped = 0
        while len(jobs) < limit:
            ids = cast(
                list[bytes], self.redis.zrevrange(self._owner_jobs_key(owner), cursor, cursor + 199)
            )
            if not ids:
                break
            cursor += len(ids)
            for raw in self.redis.mget([self._job_key(_text(i)) for i in ids]):
                if raw is None:
                    continue
                job = Job.model_validate_json(raw)
                if status is not None and job.status != status:
                    continue
                if skipped < offset:
                    skipped += 1
                    continue
                jobs.append(job)
                if len(jobs) == limit:
                    break
        return jobs

    def page_for_owner(
        self, owner: str, status: JobStatus | None, after: tuple[float, str] | None, limit: int
    ) -> list[Job]:
        """Up to ``limit`` of the owner's jobs strictly older than ``after``, newest first.

        ``after`` is the (created_at, id) of the last job of the previous page: its position in
        the owner's sorted set, so jobs created between two pages never shift the next one
        (offsets did: every new job pushed one already seen onto the next page). Jobs with the
        same created_at are ordered by id, as Redis orders equal scores.
        """
        key = self._owner_jobs_key(owner)
        top = "+inf" if after is None else repr(after[0])
        jobs: list[Job] = []
        start = 0
        while len(jobs) < limit:
            found = self.redis.zrevrangebyscore(key, top, "-inf", start, 200, withscores=True)
            batch = cast(list[tuple[bytes, float]], found)
            if not batch:
                break
            start += len(batch)
            ids = [
                _text(member)
                for member, score in batch
                if after is None or score < after[0] or _text(member) < after[1]
            ]
            raws = self.redis.mget([self._job_key(i) for i in ids]) if ids else []
            for raw in raws:
                if raw is None:
                    continue
                job = Job.model_validate_json(raw)
                if status is None or job.status == status:
                    jobs.append(job)
                if len(jobs) == limit:
                    break
        return jobs

    def count(self, status: JobStatus) -> int:
        """How many jobs are in a (non-final) status right now."""
        return int(self.redis.scard(self._status_key(status)))

    def finished_counts(self) -> dict[tuple[str, str], int]:
        """Jobs ended so far by (status, reason), counted in Redis so every process agrees."""
        raw = self.redis.hgetall(self._finished_key())
        counts = {}
        for field, value in raw.items():
            status, _, reason = _text(field).partition(":")
            if status == "submitted":
                continue
            counts[(status, reason)] = int(value)
        return counts

    def submitted_count(self) -> int:
        """Jobs ever accepted, counted in Redis so every API replica agrees."""
        return int(self.redis.hget(self._finished_key(), "submitted:") or 0)

    def find_by_idempotency_key(self, owner: str, key: str) -> Job | None:
        """The job an earlier request with this Idempotency-Key created, if any."""
        job_id = self.redis.get(self._idempotency_key(owner, key))
        if job_id is None:
            return None
        try:
            return self.get(_text(job_id), owner)
        except JobNotFound:
            return None

    def queue_position(self, job_id: str) -> int | None:
        """1 for the next job a worker takes, None when the job is not queued."""
        rank = cast(int | None, self.redis.zrank(self._queue_key(), job_id))
        return None if rank is None else rank + 1

    def running_ids(self) -> list[str]:
        return sorted(_text(m) for m in self.redis.smembers(self._status_key(JobStatus.RUNNING)))

    def recently_finished(self, limit: int) -> list[Job]:
        """The latest jobs to end whose images are still stored, newest first (speed.py)."""
        ids = cast(list[bytes], self.redis.zrevrange(self._retention_key(), 0, limit - 1))
        raws = self.redis.mget([self._job_key(_text(i)) for i in ids]) if ids else []
        return [Job.model_validate_json(raw) for raw in raws if raw is not None]

    def active_count(self, owner: str) -> int:
        return int(self.redis.scard(self._owner_active_key(owner)))

    # -- creation ---------------------------------------------------------------------------
    def create(
        self, job: Job, max_active: int | None = None, idempotency_key: str | None = None
    ) -> Job:
        """Record a new queued job atomically with the owner's limit and idempotency key.

        Returns the job that already answers this idempotency key when there is one.
        Raises TooManyActiveJobs when the owner already has ``max_active`` active jobs.
        """
        active_key = self._owner_active_key(job.owner)
        idem_key = self._idempotency_key(job.owner, idempotency_key) if idempotency_key else None
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(active_key, *([idem_key] if idem_key else []))
                    if idem_key and (existing := pipe.get(idem_key)) is not None:
                        pipe.reset()
                        return self.get(_text(existing), job.owner)
                    if max_active is not None and pipe.scard(active_key) >= max_active:
                        raise TooManyActiveJobs(
                            f"at most {max_active} jobs may be queued or running at once; "
                            "wait for one to finish or cancel one"
                        )
                    pipe.multi()
                    pipe.set(self._job_key(job.id), job.model_dump_json())
                    pipe.zadd(self._queue_key(), {job.id: job.created_at})
                    pipe.zadd(self._owner_jobs_key(job.owner), {job.id: job.created_at})
                    pipe.sadd(active_key, job.id)
                    pipe.sadd(self._status_key(JobStatus.QUEUED), job.id)
                    pipe.hincrby(self._finished_key(), "submitted:", 1)
                    if idem_key:
                        pipe.set(idem_key, job.id, ex=self.ttl_seconds)
                    pipe.execute()
                    return job
                except redis.WatchError:
                    continue

    def discard(self, job: Job) -> None:
        """Remove a job that could not be queued, so nothing half-made stays visible."""
        with self.redis.pipeline() as pipe:
            pipe.delete(self._job_key(job.id))
            pipe.zrem(self._queue_key(), job.id)
            pipe.zrem(self._owner_jobs_key(job.owner), job.id)
            pipe.srem(self._owner_active_key(job.owner), job.id)
            pipe.srem(self._status_key(JobStatus.QUEUED), job.id)
            pipe.execute()

    # -- compare-and-set --------------------------------------------------------------------
    def update(self, job_id: str, mutate: Mutation) -> Job | None:
        """Apply mutate to the current record under WATCH; None from mutate means no change."""
        key = self._job_key(job_id)
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if raw is None:
                        raise JobNotFound(f"no job {job_id}")
                    before = Job.model_validate_json(raw)
                    after = mutate(before.model_copy(deep=True))
                    if after is None:
                        pipe.reset()
                        return None
                    seen = _visible(after) != _visible(before)
                    after.updated_at = time.time() if seen else before.updated_at
                    after.version = before.version + 1 if seen else before.version
                    pipe.multi()
                    self._write(pipe, before, after)
                    pipe.execute()
                    if self.on_final and after.status.is_final and not before.status.is_final:
                        self.on_final(after)
                    return after
                except redis.WatchError:
                    continue

    def _write(self, pipe: redis.client.Pipeline, before: Job, after: Job) -> None:
        # KEEPTTL: a finished job's record expires; a later write (a webhook attempt) keeps that.
        pipe.set(self._job_key(after.id), after.model_dump_json(), keepttl=True)
        if after.version != before.version:
            pipe.publish(self.events_channel(after.id), str(after.version))
        if before.status == after.status:
            return
        if after.status == JobStatus.QUEUED:  # requeued: back at the end of the line
            pipe.zadd(self._queue_key(), {after.id: time.time()})
        else:
            pipe.zrem(self._queue_key(), after.id)
            if before.status == JobStatus.QUEUED:
                pipe.publish(self.queue_channel(), after.id)
        for status in (JobStatus.QUEUED, JobStatus.RUNNING):
            if after.status == status:
                pipe.sadd(self._status_key(status), after.id)
            else:
                pipe.srem(self._status_key(status), after.id)
        if after.status.is_final:
            pipe.srem(self._owner_active_key(after.owner), after.id)
            pipe.expire(self._job_key(after.id), self.ttl_seconds)
            pipe.zadd(self._retention_key(), {after.id: after.finished_at or time.time()})
            reason = after.error.code if after.error else after.status.value
            pipe.hincrby(self._finished_key(), f"{after.status.value}:{reason}", 1)

    # -- retention ------------------------------------------------------------------------
    def finished_before(self, cutoff: float, limit: int = 100) -> list[str]:
        """Ids of jobs that finished before ``cutoff`` and still have their images stored."""
        ids = self.redis.zrangebyscore(self._retention_key(), "-inf", cutoff, start=0, num=limit)
        return [_text(job_id) for job_id in cast(list[bytes], ids)]

    def check_deletable(self, job_id: str, owner: str) -> Job:
        """The owner's job if it is finished; JobActive while it is queued or running.

        A finished status is final (no transition leaves it), so a job seen finished here is
        still finished when its images are deleted next: the check needs no lock.
        """
        job = self.get(job_id, owner)
        if not job.status.is_final:
            raise JobActive(
                f"job {job_id} is still {job.status.value}: cancel it first "
                f"(POST /v1/jobs/{job_id}/cancel), then delete it"
            )
        return job

    def mark_data_deleted(self, job_id: str) -> Job | None:
        """Record that the job's images are gone; None when its record has expired too."""
        self.redis.zrem(self._retention_key(), job_id)

        def deleted(job: Job) -> Job | None:
            if not job.status.is_final:  # never for an active job, whatever the caller checked
                raise JobActive(f"job {job_id} is still {job.status.value}: cancel it first")
            if job.data_deleted_at is not None:
                return None
            job.data_deleted_at = time.time()
            job.has_preview = False
            return job

        try:
            return self.update(job_id, deleted)
        except JobNotFound:
            return None

    # -- transitions used by the worker -----------------------------------------------------
    def mark_running(
        self, job_id: str, worker: str, stale_after: float, max_takeovers: int | None = None
    ) -> Job | None:
        """Claim a delivered job, or None when another delivery owns it.

        None when the job is final (duplicate delivery), or running on another worker
        that still sends heartbeats; a running job whose heartbeat is older than
        ``stale_after`` seconds, or that ran on this same worker (a child process that
        died), is taken over. A job whose cancel was asked is ended ``cancelled`` here
        (its worker died before it could stop at a checkpoint) and None is returned.

        Each takeover counts a lost run (``lost_runs``, as the sweeper's requeues do; hand-backs
        by a draining worker or a storage outage do not). Past ``max_takeovers``
        (NST_MAX_REDELIVERIES) the job is not taken over again but ends ``failed`` with
        ``worker_lost``, and None is returned: a job that kills its process each time (say, out
        of memory) must not be retried for ever.
        """

        def claim(job: Job) -> Job | None:
            if job.status.is_final:
                return None
            now = time.time()
            if job.cancel_requested:  # cancelled while its worker died: end it, never run it
                return _cancelled(job, now)
            alive = job.heartbeat_at is not None and now - job.heartbeat_at < stale_after
            if job.status == JobStatus.RUNNING and job.worker != worker and alive:
                return None
            if job.status == JobStatus.RUNNING:  # its last run died: a takeover
                job.lost_runs += 1
                if max_takeovers is not None and job.lost_runs > max_takeovers:
                    return _worker_lost(job, now, job.lost_runs)
            job.status = JobStatus.RUNNING
            job.started_at = job.started_at or now
            job.heartbeat_at = now
            job.worker = worker
            job.attempts += 1
            return job

        claimed = self.update(job_id, claim)
        return claimed if claimed is not None and claimed.status == JobStatus.RUNNING else None

    def record_progress(
        self,
        job_id: str,
        worker: str,
        progress: Progress,
        has_preview: bool,
        weights: LossWeights | None = None,
    ) -> Job | None:
        """Store a checkpoint's numbers; the returned job tells whether a cancel was asked.

        None when the job is no longer running on this worker: its run must stop.
        """

        def apply(job: Job) -> Job | None:
            if job.status != JobStatus.RUNNING or job.worker != worker:
                return None
            job.progress = progress
            job.has_preview = job.has_preview or has_preview
            job.loss_weights = job.loss_weights or weights
            job.heartbeat_at = time.time()
            return job

        return self.update(job_id, apply)

    def note_resume(self, job_id: str, iteration: int) -> Job | None:
        def apply(job: Job) -> Job:
            job.resumed_from_iteration = iteration
            return job

        return self.update(job_id, apply)

    def heartbeat(self, job_id: str, worker: str) -> Job | None:
        def beat(job: Job) -> Job | None:
            if job.status != JobStatus.RUNNING or job.worker != worker:
                return None
            job.heartbeat_at = time.time()
            return job

        return self.update(job_id, beat)

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        failure: JobFailure | None = None,
        timing: Callable[[Job], JobTiming] | None = None,
    ) -> Job | None:
        """Move a job to a final state once; None if it already was final.

        ``timing`` makes the job's time breakdown from the record as it ends.
        """

        def end(job: Job) -> Job | None:
            if job.status.is_final:
                return None
            job.status = status
            job.error = failure
            job.finished_at = time.time()
            job.heartbeat_at = None
            job.timing = timing(job) if timing is not None else None
            return job

        return self.update(job_id, end)

    def requeue(self, job_id: str, expected_worker: str | None, lost: bool = False) -> Job | None:
        """Give a running job back to the queue (warm shutdown; the sweeper, ``lost``: its
        worker died, which counts towards NST_MAX_REDELIVERIES)."""

        def back(job: Job) -> Job | None:
            if job.status != JobStatus.RUNNING or job.worker != expected_worker:
                return None
            job.lost_runs += lost
            job.status = JobStatus.QUEUED
            job.worker = None
            job.heartbeat_at = None
            return job

        return self.update(job_id, back)

    def requeue_after_outage(self, job_id: str, worker: str) -> Job | None:
        """Give a running job back to the queue because storage is down; count it."""

        def back(job: Job) -> Job | None:
            if job.status != JobStatus.RUNNING or job.worker != worker:
                return None
            job.status = JobStatus.QUEUED
            job.worker = None
            job.heartbeat_at = None
            job.outage_retries += 1
            return job

        return self.update(job_id, back)

    def stale_running(self, stale_after: float) -> list[Job]:
        """Running jobs whose worker has not sent a heartbeat for stale_after seconds.

        One MGET for all running records (benchmarks/README.md, "Scale-out": a GET each made
        every sweep cost one round trip per running job).
        """
        now = time.time()
        ids = self.running_ids()
        raws = self.redis.mget([self._job_key(job_id) for job_id in ids]) if ids else []
        jobs = [Job.model_validate_json(raw) for raw in raws if raw is not None]
        return [j for j in jobs if j.heartbeat_at is None or now - j.heartbeat_at > stale_after]

    def claim_sweep(self, holder: str, seconds: float) -> bool:
        """True for the one caller that may sweep in the next ``seconds``; False for the rest.

        Every worker runs a sweeper; this lets one of them scan per interval, whatever the
        number of workers. The claim expires by itself, so a worker that dies holding it costs
        the fleet one interval at most.
        """
        key = f"{self.prefix}:sweeper"
        return bool(self.redis.set(key, holder, nx=True, px=max(1, int(seconds * 1000))))

    # -- webhook deliveries ------------------------------------------------------------------
    def record_webhook_attempt(self, job_id: str, attempt: WebhookAttempt) -> Job | None:
        """Append one delivery attempt to the job's webhook; None if it has no webhook.

        A compare-and-set like every change, so an attempt recorded while the worker writes a
        checkpoint loses neither; a finished job keeps its expiry (``_write``).
        """

        def record(job: Job) -> Job | None:
            if job.webhook is None:
                return None
            job.webhook.record(attempt)
            return job

        return self.update(job_id, record)

    # -- worker draining (warm shutdown) ----------------------------------------------------
    def _draining_key(self, worker: str) -> str:
        return f"{self.prefix}:draining:{worker}"

    def set_draining(self, worker: str, ttl_seconds: int = 3600) -> None:
        """Ask the jobs running on worker to hand themselves back at their next checkpoint."""
        self.redis.set(self._draining_key(worker), "1", ex=ttl_seconds)

    def clear_draining(self, worker: str) -> None:
        self.redis.delete(self._draining_key(worker))

    def is_draining(self, worker: str) -> bool:
        return bool(self.redis.exists(self._draining_key(worker)))

    # -- transitions used by the API ------------------------------------------------------
    def request_cancel(self, job_id: str, owner: str) -> Job:
        """Cancel a queued job now, or flag a running one to stop at its next checkpoint.

        Never touches a finished job: a cancelled one is returned as it is (a retried cancel),
        one that succeeded or failed raises JobFinished. The check runs inside the same
        compare-and-set as the change, so a job that succeeds while the cancel is on its way
        keeps its result.
        """
        self.get(job_id, owner)

        def cancel(job: Job) -> Job | None:
            if job.status == JobStatus.CANCELLED:
                return None
            if job.status.is_final:
                raise JobFinished(
                    f"job {job_id} has already {job.status.value}; nothing was cancelled or "
                    "deleted (DELETE deletes its images)"
                )
            job.cancel_requested = True
            if job.status == JobStatus.QUEUED:
                return _cancelled(job, time.time())
            return job

        updated = self.update(job_id, cancel)
        return updated or self.get(job_id, owner)


def _worker_lost(job: Job, now: float, runs: int) -> Job:
    job.status = JobStatus.FAILED
    job.finished_at = now
    job.worker = None
    job.heartbeat_at = None
    job.error = JobFailure(
        code=WorkerLost.code, message=f"the job's worker process died {runs} times; giving up"
    )
    return job


def _cancelled(job: Job, now: float) -> Job:
    """The record of a job that ends cancelled without running further."""
    job.cancel_requested = True
    job.status = JobStatus.CANCELLED
    job.finished_at = now
    job.heartbeat_at = None
    return job


_INTERNAL = {"heartbeat_at", "updated_at", "version"}


def _visible(job: Job) -> dict[str, object]:
    """What a client can see of a job: a heartbeat alone is not a change (no new version)."""
    return job.model_dump(exclude=_INTERNAL)
