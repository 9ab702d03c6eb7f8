"""The ``/v1/jobs`` resource: submit, poll, list, download, cancel, delete.

Views only validate, talk to the job store and storage, and shape JSON; the
work happens in the worker. Status answers come from Redis alone.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, jsonify, redirect, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from api.auth import current_owner, owned_job
from api.container import Services, services
from api.events import job_response
from api.idempotency import HEADER as IDEMPOTENCY_HEADER
from api.idempotency import idempotency_key as checked_idempotency_key
from api.paging import decode_cursor, encode_cursor
from api.parsing import query_int
from api.presenters import job_json, job_resource
from api.submission import Submission, parse_submission, parse_webhook_fields, request_digest
from contract.errors import (
    IdempotencyKeyReused,
    InvalidParams,
    JobNotFound,
    StorageUnavailable,
    TooManyActiveJobs,
)
from contract.jobs import Job, JobStatus, new_job_id
from contract.resources import JobListing
from shared.queue import enqueue_job
from shared.storage import JobKeys

bp = Blueprint("jobs", __name__, url_prefix="/v1/jobs")
MAX_PAGE = 100
OFFSET_DEPRECATED = "@1796601600"  # RFC 9745: ?offset= deprecated since 2026-12-07 (cursor)


@bp.post("")
def submit_job() -> tuple[Response, int, dict[str, str]]:
    """Validate everything, store the inputs, record the job, queue it: 202 + Location."""
    svc = services()
    owner = current_owner()
    idempotency_key = checked_idempotency_key(request.headers.get(IDEMPOTENCY_HEADER))
    digest = request_digest(request) if idempotency_key else None
    if idempotency_key and (earlier := svc.store.find_by_idempotency_key(owner, idempotency_key)):
        return _accepted(_same_request(earlier, digest), svc, status=200)
    if svc.store.active_count(owner) >= svc.settings.max_active_jobs_per_key:
        raise TooManyActiveJobs(
            f"at most {svc.settings.max_active_jobs_per_key} jobs may be queued or running at once"
        )
    submission = parse_submission(
        request, svc.limits, svc.settings.max_pixels, svc.cpu_pool, svc.presets
    )
    webhook = parse_webhook_fields(request, svc.settings)
    job = Job(
        id=new_job_id(),
        owner=owner,
        params=submission.params,
        style_count=len(submission.styles) + len(submission.presets),
        request_digest=digest,
        style_presets=tuple(preset.id for preset in submission.presets),
        webhook=webhook,
    )
    _store_inputs(job, submission, svc)
    try:
        created = svc.store.create(job, svc.settings.max_active_jobs_per_key, idempotency_key)
    except Exception:
        svc.storage.delete_prefix(JobKeys(job.id).prefix)
        raise
    if created.id != job.id:  # a concurrent request with the same Idempotency-Key won
        svc.storage.delete_prefix(JobKeys(job.id).prefix)
        return _accepted(_same_request(created, digest), svc, status=200)
    try:
        enqueue_job(svc.queue, job.id)
    except Exception:
        svc.store.discard(job)
        svc.storage.delete_prefix(JobKeys(job.id).prefix)
        raise
    return _accepted(created, svc, status=202)


def _same_request(earlier: Job, digest: str | None) -> Job:
    """The job an Idempotency-Key already stands for, if this is the same request (else 422)."""
    if earlier.request_digest is not None and earlier.request_digest != digest:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used with a different request; "
            "use a new key for a new job"
        )
    return earlier


def _store_inputs(job: Job, submission: Submission, svc: Services) -> None:
    """Store the inputs in parallel; on failure remove what was written.

    A preset is stored once for all jobs, the first time one asks for it.
    """
    for preset in submission.presets:
        if not svc.storage.exists(preset.key):
            image = svc.presets.image(preset, svc.settings.max_pixels)
            svc.storage.put(preset.key, image, "image/jpeg")
    keys = JobKeys(job.id)
    objects = [(keys.content, submission.content)]
    objects += [(keys.style(i), data) for i, data in enumerate(submission.styles)]
    try:
        list(svc.pool.map(lambda item: svc.storage.put(item[0], item[1], "image/jpeg"), objects))
    except StorageUnavailable:
        try:
            svc.storage.delete_prefix(keys.prefix)
        finally:
            raise


def _accepted(job: Job, svc: Services, status: int) -> tuple[Response, int, dict[str, str]]:
    body = job_json(job, svc)
    return jsonify(body), status, {"Location": url_for("jobs.get_job", job_id=job.id)}


@bp.get("/<job_id>")
def get_job(job_id: str) -> WerkzeugResponse:
    """The job; ``Prefer: wait=N`` answers when it changes (up to 60 s), ETags give 304s."""
    return job_response(owned_job(job_id))


@bp.get("")
def list_jobs() -> Response:
    """The caller's jobs, newest first; ``?status=&limit=&cursor=``.

    ``next_cursor`` (and the ``next`` link that carries it) start the next page after the last
    job shown, so jobs created meanwhile never repeat one. ``offset`` is deprecated: still
    answered, with a ``Deprecation`` header, and its ``next`` link is a cursor link too.
    """
    svc = services()
    owner = current_owner()
    status = _status_filter(request.args.get("status"))
    limit = query_int("limit", 20, 1, MAX_PAGE)
    cursor = request.args.get("cursor")
    offset = None if "offset" not in request.args else query_int("offset", 0, 0, 1_000_000)
    if cursor is not None and offset is not None:
        raise InvalidParams("give cursor or offset, not both (offset is deprecated)", "offset")
    if offset is not None:
        jobs = svc.store.list_for_owner(owner, status, offset, limit + 1)
    else:
        after = decode_cursor(cursor) if cursor is not None else None
        jobs = svc.store.page_for_owner(owner, status, after, limit + 1)
    next_cursor = encode_cursor(jobs[limit - 1]) if len(jobs) > limit else None
    next_page = None
    if next_cursor is not None:
        args: dict[str, Any] = {"status": status.value} if status else {}
        next_page = url_for("jobs.list_jobs", **args, limit=limit, cursor=next_cursor)
    listing = JobListing(
        jobs=[job_resource(j, svc) for j in jobs[:limit]], next=next_page, next_cursor=next_cursor
    )
    response = jsonify(listing.model_dump(mode="json"))
    if offset is not None:
        response.headers["Deprecation"] = OFFSET_DEPRECATED
    return response


def _status_filter(raw: str | None) -> JobStatus | None:
    if raw is None:
        return None
    try:
        return JobStatus(raw)
    except ValueError:
        choices = ", ".join(s.value for s in JobStatus)
        raise InvalidParams(f"status must be one of {choices}", field="status") from None


@bp.post("/<job_id>/cancel")
def cancel_job(job_id: str) -> tuple[Response, int]:
    """Cancel an active job; never delete anything.

    A queued job is cancelled now and never runs (200); a running one stops at its next
    checkpoint (202, ``cancel_requested``). A cancelled job answers 200 unchanged, so a retry is
    safe. A job that already succeeded or failed answers 409 ``job_finished`` and keeps its
    result: the state check and the change are one Redis transaction (``request_cancel``).
    """
    svc = services()
    job = owned_job(job_id)
    job = svc.store.request_cancel(job.id, job.owner)
    return jsonify(job_json(job, svc)), 200 if job.status.is_final else 202


@bp.delete("/<job_id>")
def delete_job(job_id: str) -> tuple[Response, int]:
    """Delete a finished job's images (inputs, previews, state, result) now; never cancel.

    Rather than after NST_RESULT_TTL; the record stays and says when (200, again on a retry).
    A queued or running job answers 409 ``job_active``: cancel it first, so that a delete can
    never stop a job and a cancel can never delete a picture.
    """
    svc = services()
    job = svc.store.check_deletable(owned_job(job_id).id, current_owner())
    if job.data_deleted_at is None:
        svc.storage.delete_prefix(JobKeys(job.id).prefix)
        job = svc.store.mark_data_deleted(job.id) or job
    return jsonify(job_json(job, svc)), 200


@bp.get("/<job_id>/result")
def get_result(job_id: str) -> WerkzeugResponse:
    job = _with_images(owned_job(job_id))
    if job.status != JobStatus.SUCCEEDED:
        raise JobNotFound(f"job {job_id} has no result yet (status {job.status.value})")
    return _image(JobKeys(job.id).result, "image/png", f"nst-{job.id}.png")


@bp.get("/<job_id>/content")
def get_content(job_id: str) -> WerkzeugResponse:
    """The photo as stored (upright, sRGB, re-encoded): the "before" of a before/after view."""
    job = _with_images(owned_job(job_id))
    return _image(JobKeys(job.id).content, "image/jpeg", None)


@bp.get("/<job_id>/preview")
def get_preview(job_id: str) -> WerkzeugResponse:
    job = _with_images(owned_job(job_id))
    if not job.has_preview:
        raise JobNotFound(f"job {job_id} has no preview yet")
    return _image(JobKeys(job.id).preview, "image/jpeg", None)


def _with_images(job: Job) -> Job:
    """The job, unless its images were deleted (retention or DELETE): then JobNotFound."""
    if job.data_deleted_at is not None:
        raise JobNotFound(f"job {job.id}'s images were deleted")
    return job


def _image(key: str, mimetype: str, download_name: str | None) -> WerkzeugResponse:
    """Redirect to a presigned URL, or stream the object when storage cannot presign."""
    svc = services()
    url = svc.storage.presigned_url(key, svc.settings.presign_expiry_seconds)
    if url:
        return redirect(url, code=302)
    response = Response(svc.storage.get(key), mimetype=mimetype)
    response.headers["Cache-Control"] = "no-store"
    if download_name:
        response.headers["Content-Disposition"] = f'inline; filename="{download_name}"'
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
