"""The JSON shape of a job, with links made fresh for each request."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import url_for

from api.container import Services
from contract.jobs import Job, JobStatus
from contract.webhooks import JobWebhook
from shared.storage import JobKeys


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return (
        datetime.fromtimestamp(timestamp, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def job_json(job: Job, svc: Services) -> dict[str, Any]:
    """Render a job for clients; URLs are made at request time, never stored."""
    keys = JobKeys(job.id)
    progress = None
    if job.progress is not None:
        progress = {
            **job.progress.model_dump(),
            "percent": job.progress.percent,
            "eta_seconds": job.progress.eta_seconds,
            "iterations_saved": job.progress.iterations_saved,
        }
    has_result = job.status == JobStatus.SUCCEEDED and job.data_deleted_at is None
    return {
        "id": job.id,
        "status": job.status.value,
        "queue_position": svc.store.queue_position(job.id)
        if job.status == JobStatus.QUEUED
        else None,
        "progress": progress,
        "preview_url": _url(job, "preview", keys.preview, svc)
        if job.has_preview
        else None,
        "result_url": _url(job, "result", keys.result, svc) if has_result else None,
        "error": job.error.model_dump() if job.error else None,
        "cancel_requested": job.cancel_requested,
        "attempts": job.attempts,
        "resumed_from_iteration": job.resumed_from_iteration,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "images_expire_at": iso(job.finished_at + svc.settings.result_ttl)
        if job.finished_at is not None and job.data_deleted_at is None
        else None,
        "images_deleted_at": iso(job.data_deleted_at),
        "style_count": job.style_count,
        "params": job.params.model_dump(mode="json"),
        "loss_weights": job.loss_weights.model_dump(mode="json") if job.loss_weights else None,
        "timing": job.timing.model_dump(mode="json") if job.timing else None,
        "webhook": _webhook(job.webhook) if job.webhook else None,
        "links": {"self": public_url(svc, "jobs.get_job", job_id=job.id)},
    }


def _webhook(webhook: JobWebhook) -> dict[str, Any]:
    """The subscription and every recorded delivery attempt, oldest first."""
    attempts = [
        {**attempt.model_dump(mode="json"), "at": iso(attempt.at), "delivered": attempt.delivered}
        for attempt in webhook.attempts
    ]
    return {"url": webhook.url, "events": [e.value for e in webhook.events], "attempts": attempts}


def public_url(svc: Services, endpoint: str, **values: Any) -> str:
    """An absolute link to an API route: under NST_PUBLIC_BASE_URL when it is set.

    Unset, Flask builds it from the request's ``Host``, which the client chose: a request with
    ``Host: evil.example`` would get links there (issue 21). That is kept for local use only.
    """
    base = svc.settings.public_base_url
    if base is None:
        return url_for(endpoint, **values, _external=True)
    return base.rstrip("/") + url_for(endpoint, **values)


def _url(job: Job, kind: str, key: str, svc: Services) -> str:
    presigned = svc.storage.presigned_url(key, svc.settings.presign_expiry_seconds)
    return presigned or public_url(svc, f"jobs.get_{kind}", job_id=job.id)
