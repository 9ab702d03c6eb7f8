"""Run one job from its id: load inputs, optimize, checkpoint, write the result.

This is the plain-Python body of the Celery task, kept free of Celery so it can
be read and tested on its own. It is idempotent: a redelivered job resumes from
its last stored checkpoint and writes the same keys, and the job store's
compare-and-set transitions let only one delivery end the job.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from enum import StrEnum

import redis
from PIL import Image

from contract.errors import InternalError, JobCancelled, NSTError, StorageUnavailable
from contract.jobs import Job, JobFailure, JobStatus, JobTiming, Progress
from shared.images import decode_image, encode_png
from shared.storage import JobKeys, style_keys
from worker.checkpoints import CheckpointWriter, ClaimLost, WorkerDraining
from worker.context import WorkerContext
from worker.nst.options import RunOptions
from worker.uploads import Uploader

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"  # final already, cancelled before start, or owned by a live worker
    HANDED_BACK = "handed_back"  # the worker is shutting down; the job goes back to the queue
    RETRY_LATER = "retry_later"  # storage is down past its budget; the job is queued again
    STORE_LOST = "store_lost"  # Redis is down past its budget; the sweeper requeues the job


def run_job(job_id: str, ctx: WorkerContext) -> Outcome:
    """Run job_id to a final state (or hand it back); never raises for a job's own failure."""
    started = time.perf_counter()
    outcome = _run_claimed(job_id, ctx)
    if outcome != Outcome.SKIPPED:
        ctx.metrics.job_ended(outcome.value, time.perf_counter() - started)
    return outcome


def _run_claimed(job_id: str, ctx: WorkerContext) -> Outcome:
    settings = ctx.settings
    job = ctx.store.mark_running(
        job_id, ctx.worker_name, settings.stale_after_seconds, settings.max_redeliveries
    )
    if job is None:
        return Outcome.SKIPPED
    with _Heartbeat(ctx, job_id):
        try:
            _report_start(job, ctx)
            timing = _optimize(job, ctx)
            ctx.store.finish(job_id, JobStatus.SUCCEEDED, timing=timing)
            return Outcome.SUCCEEDED
        except ClaimLost:
            return Outcome.SKIPPED
        except WorkerDraining:
            ctx.store.requeue(job_id, ctx.worker_name)
            return Outcome.HANDED_BACK
        except JobCancelled:
            ctx.store.finish(job_id, JobStatus.CANCELLED)
            return Outcome.CANCELLED
        except StorageUnavailable as exc:
            return _after_outage(job, ctx, exc)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # Nothing can be recorded now. The job keeps its last checkpoint; once Redis is
            # back, its heartbeat is stale and a sweeper puts it back on the queue.
            log.warning("job %s stopped: the job store is unreachable (%s)", job_id, exc)
            return Outcome.STORE_LOST
        except NSTError as exc:
            log.warning("job %s failed: %s", job_id, exc.message)
            ctx.store.finish(
                job_id, JobStatus.FAILED, JobFailure(code=exc.code, message=exc.message)
            )
            return Outcome.FAILED
        except Exception:
            log.exception("job %s crashed", job_id)
            failure = JobFailure(
                code=InternalError.code, message="the worker failed; the error was logged"
            )
            ctx.store.finish(job_id, JobStatus.FAILED, failure)
            return Outcome.FAILED


def _after_outage(job: Job, ctx: WorkerContext, exc: StorageUnavailable) -> Outcome:
    """Queue the job again when storage stayed down past its budget; fail it only at the end.

    Its inputs and last checkpoint are still in storage, just unreachable: the job resumes
    from that checkpoint once storage is back. After ``max_outage_retries`` such hand-backs
    it fails, so a store that is gone for good does not keep a job circulating for ever.
    """
    if job.outage_retries >= ctx.settings.max_outage_retries:
        log.warning("job %s failed: %s (after %d retries)", job.id, exc.message, job.outage_retries)
        failure = JobFailure(code=exc.code, message=f"{exc.message}; gave up after retrying")
        ctx.store.finish(job.id, JobStatus.FAILED, failure)
        return Outcome.FAILED
    log.warning("job %s goes back to the queue: %s", job.id, exc.message)
    if ctx.store.requeue_after_outage(job.id, ctx.worker_name) is None:
        return Outcome.SKIPPED
    return Outcome.RETRY_LATER


def _report_start(job: Job, ctx: WorkerContext) -> None:
    """Show progress the moment a job starts, before inputs load and steps compile."""
    if job.progress is None:
        start = Progress(iteration=0, total=job.params.iterations, elapsed_seconds=0.0)
        ctx.store.record_progress(job.id, ctx.worker_name, start, has_preview=False)


def _optimize(job: Job, ctx: WorkerContext) -> Callable[[Job], JobTiming]:
    """Load inputs and any saved state, run the engine, store the result.

    Returns what makes the job's timing (``_timing`` with this run's numbers bound), not the
    timing itself: its queue and total times are read from the job's record as the store ends
    it (``JobStore.finish(timing=...)``), which this function has not seen yet.
    """
    keys = JobKeys(job.id)
    content = _load_image(ctx, keys.content, "content")
    styles = [_load_image(ctx, key, f"style {i + 1}") for i, key in enumerate(style_keys(job))]
    resume = ctx.storage.get(keys.state) if ctx.storage.exists(keys.state) else None
    if resume is not None and job.progress is not None:
        ctx.store.note_resume(job.id, job.progress.iteration)
    uploader = Uploader(ctx.storage, ctx.metrics.checkpoint_write_seconds.observe)
    writer = CheckpointWriter(job.id, ctx, uploader)
    started = time.monotonic()
    try:
        options = RunOptions(
            checkpoint_every=ctx.settings.checkpoint_interval(job.params),
            progress_seconds=ctx.settings.progress_seconds,
            checkpoint_seconds=ctx.settings.checkpoint_seconds,
            on_checkpoint=writer,
            resume_from=resume,
            memory_limit_mib=ctx.settings.job_memory_limit_mb,
        )
        result = ctx.engine.run(content, styles, job.params, options)
        uploader.flush()
    finally:
        uploader.close()
    optimize = time.monotonic() - started
    ctx.storage.put(keys.result, encode_png(result.image), "image/png")
    ctx.metrics.compile_seconds.observe(writer.compile_seconds)
    return functools.partial(
        _timing,
        optimize=optimize,
        compile_=writer.compile_seconds,
        uploads=uploader.seconds,
        precision=result.precision,
    )


def _timing(
    job: Job, optimize: float, compile_: float, uploads: float, precision: str
) -> JobTiming:
    """Where the job's time went, from its record as it ends, and the precision that made it."""
    end = time.time()
    return JobTiming(
        queued_seconds=round((job.started_at or end) - job.created_at, 3),
        compile_seconds=round(compile_, 3),
        optimize_seconds=round(optimize, 3),
        checkpoint_seconds=round(uploads, 3),
        total_seconds=round(end - job.created_at, 3),
        precision=precision,
    )


def _load_image(ctx: WorkerContext, key: str, name: str) -> Image.Image:
    return decode_image(ctx.storage.get(key), ctx.settings.max_pixels, name=name)


class _Heartbeat:
    """Refresh the job's heartbeat between checkpoints, so the sweeper knows it is alive."""

    def __init__(self, ctx: WorkerContext, job_id: str) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)

    def _beat(self) -> None:
        while not self.stopped.wait(self.ctx.settings.heartbeat_seconds):
            try:
                self.ctx.store.heartbeat(self.job_id, self.ctx.worker_name)
            except Exception:  # a missed beat is harmless; the next one may succeed
                log.warning("heartbeat for %s failed", self.job_id, exc_info=True)
