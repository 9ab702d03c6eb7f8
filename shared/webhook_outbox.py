"""A job's webhook events: when one is due, what its body says, and onto which queue it goes.

The GPU worker (at each checkpoint) and any process that ends a job (``JobStore``'s
``on_final``: the worker, the sweeper, the API cancelling a queued job) call a
``WebhookNotifier``; it only puts a message on the webhook queue, so no process that runs or
serves jobs ever waits on a receiver. The body is made here, when the event happens, and sent
as it is at every attempt: a retry tells what happened then, not what is true now.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from celery import Celery

from contract.jobs import Job
from contract.webhooks import WebhookEvent
from shared.queue import enqueue_webhook

log = logging.getLogger(__name__)
# Queue priority of each event (Redis: 0 is taken first). A job's end goes ahead of any backlog
# of checkpoints, which are superseded by the next one anyway.
PRIORITY = {WebhookEvent.COMPLETED: 0, WebhookEvent.PROGRESS: 9}


class WebhookNotifier:
    """Enqueue the events a job subscribed to; never raises (a lost event must not fail a job)."""

    def __init__(self, producer: Celery) -> None:
        self.producer = producer

    def job_finished(self, job: Job) -> None:
        """The ``completed`` event of a job that just ended (succeeded, failed or cancelled)."""
        self._send(job, WebhookEvent.COMPLETED, f"{job.id}.completed")

    def job_progressed(self, job: Job) -> None:
        """The ``progress`` event of the checkpoint just recorded on job."""
        if job.progress is not None:
            self._send(job, WebhookEvent.PROGRESS, f"{job.id}.progress.{job.progress.iteration}")

    def _send(self, job: Job, event: WebhookEvent, message_id: str) -> None:
        if job.webhook is None or not job.webhook.wants(event):
            return
        try:
            body = event_body(job, event, time.time())
            enqueue_webhook(self.producer, job.id, event.value, message_id, body, PRIORITY[event])
        except Exception:  # the broker is down: the job goes on, the event is lost (logged)
            log.exception("could not queue the %s webhook of job %s", event.value, job.id)


def event_body(job: Job, event: WebhookEvent, now: float) -> str:
    """The JSON body: ``{"type", "timestamp", "data"}``, as the specification recommends.

    ``data`` is the job's state at the event; URLs are left out (they expire, and the worker
    does not know the API's address): ``GET /v1/jobs/{id}`` gives them.
    """
    data = {
        "id": job.id,
        "status": job.status.value,
        "progress": _progress(job),
        "error": job.error.model_dump() if job.error else None,
        "created_at": _iso(job.created_at),
        "finished_at": _iso(job.finished_at),
    }
    envelope = {"type": event.type, "timestamp": _iso(now), "data": data}
    return json.dumps(envelope, separators=(",", ":"))


def _progress(job: Job) -> dict[str, Any] | None:
    if job.progress is None:
        return None
    progress = job.progress
    return {
        **progress.model_dump(mode="json"),
        "percent": progress.percent,
        "eta_seconds": progress.eta_seconds,
    }


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")
