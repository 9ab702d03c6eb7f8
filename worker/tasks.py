"""The Celery task: thin, like a web view; the work is in ``worker.runner.run_job``."""

from __future__ import annotations

from celery import Task, shared_task
from celery.exceptions import Reject

from worker.celery_app import RUN_JOB_TASK
from worker.lifecycle import worker_context
from worker.runner import Outcome, run_job


@shared_task(name=RUN_JOB_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def run_style_transfer(self: Task, job_id: str) -> str:
    """Run one job; a job handed back by a shutting-down worker is requeued, not acknowledged."""
    outcome = run_job(job_id, worker_context(self.request.hostname or "worker"))
    if outcome == Outcome.HANDED_BACK:
        raise Reject("worker shutting down; job handed back at its last checkpoint", requeue=True)
    return outcome.value
