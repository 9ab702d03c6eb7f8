"""The Celery task: thin, like a web view; the work is in ``worker.runner.run_job``."""

from __future__ import annotations

from celery import Task, shared_task
from celery.exceptions import Reject

from shared.queue import RUN_JOB_TASK
from worker.runner import Outcome, run_job


@shared_task(name=RUN_JOB_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def run_style_transfer(self: Task, job_id: str) -> str:
    """Run one job; a job handed back by a shutting-down worker is requeued, not acknowledged.

    A job whose storage stayed down past its budget is retried later with Celery's own retry
    (a new message with the same id, after a growing delay), so the worker is free meanwhile.
    """
    context = self.app.nst_lifecycle.context(self.request.hostname or "worker")
    outcome = run_job(job_id, context)
    if outcome == Outcome.HANDED_BACK:
        raise Reject("worker shutting down; job handed back at its last checkpoint", requeue=True)
    if outcome == Outcome.RETRY_LATER:  # storage down past its budget: try again later
        delay = context.settings.outage_retry_delay_seconds * 2 ** min(self.request.retries, 5)
        raise self.retry(countdown=min(delay, 600), max_retries=None)
    return outcome.value
