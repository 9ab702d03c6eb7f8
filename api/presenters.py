"""A job as its owner sees it (``contract.resources.JobResource``), links made per request."""

from __future__ import annotations

from typing import Any

from flask import url_for

from api.container import Services
from contract.jobs import Job, JobStatus
from contract.resources import (
    DeliveryAttempt,
    JobLinks,
    JobProgress,
    JobResource,
    JobWebhookView,
    utc,
)
from contract.webhooks import JobWebhook
from shared.storage import JobKeys


def job_resource(job: Job, svc: Services) -> JobResource:
    """The record as a resource; URLs are made at request time, never stored."""
    keys = JobKeys(job.id)
    has_result = job.status == JobStatus.SUCCEEDED and job.data_deleted_at is None
    return JobResource(
        id=job.id,
        status=job.status,
        queue_position=svc.store.queue_position(job.id) if job.status == JobStatus.QUEUED else None,
        progress=JobProgress.of(job.progress) if job.progress is not None else None,
        preview_url=_url(job, "preview", keys.preview, svc) if job.has_preview else None,
        result_url=_url(job, "result", keys.result, svc) if has_result else None,
        error=job.error,
        cancel_requested=job.cancel_requested,
        attempts=job.attempts,
        resumed_from_iteration=job.resumed_from_iteration,
        created_at=utc(job.created_at),
        updated_at=utc(job.updated_at),
        started_at=utc(job.started_at),
        finished_at=utc(job.finished_at),
        images_expire_at=utc(job.finished_at + svc.settings.result_ttl)
        if job.finished_at is not None and job.data_deleted_at is None
        else None,
        images_deleted_at=utc(job.data_deleted_at),
        style_count=job.style_count,
        params=job.params,
        loss_weights=job.loss_weights,
        timing=job.timing,
        webhook=_webhook(job.webhook) if job.webhook else None,
        links=JobLinks(self=public_url(svc, "jobs.get_job", job_id=job.id)),
    )


def job_json(job: Job, svc: Services) -> dict[str, Any]:
    """``job_resource`` as JSON-ready data: what every job answer and event carries."""
    return job_resource(job, svc).model_dump(mode="json")


def _webhook(webhook: JobWebhook) -> JobWebhookView:
    """The subscription and every recorded delivery attempt, oldest first."""
    return JobWebhookView(
        url=webhook.url,
        events=list(webhook.events),
        attempts=[DeliveryAttempt.of(attempt) for attempt in webhook.attempts],
    )


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
