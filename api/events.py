"""Live updates without polling: ``GET /v1/jobs/{id}/events`` (server-sent events) and the
long poll behind ``Prefer: wait`` on ``GET /v1/jobs/{id}``.

Both wait on the process's ``JobWatcher`` (one Redis subscription, an Event per waiter), so an
open stream holds a greenlet and a socket, not a thread or a Redis connection (the API runs on
gevent workers, ``api/serving.py``). Every event carries the job's version as its id; a client
that reconnects with ``Last-Event-ID`` gets only what changed since. Events: ``status``
(queued/running, queue position, a pending cancel), ``progress`` (iteration, total, losses,
ETA), ``preview`` (a new checkpoint image), then one of ``succeeded``, ``failed`` or
``cancelled`` with the whole job, and the stream closes. A comment line every
NST_EVENTS_HEARTBEAT_SECONDS keeps proxies from closing an idle stream and finds dead clients.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, request, stream_with_context

from api.auth import owned_job
from api.presenters import job_json
from api.services import Services, services
from shared.jobs import Job

bp = Blueprint("events", __name__)
MAX_STREAM_SECONDS = 3600.0  # then the client reconnects with Last-Event-ID
MAX_WAIT_SECONDS = 60.0


@bp.get("/v1/jobs/<job_id>/events")
def job_events(job_id: str) -> Response:
    """Stream the job's changes as server-sent events until it ends."""
    job = owned_job(job_id)
    last = request.headers.get("Last-Event-ID", "")
    seen = int(last) if last.isdigit() else 0
    stream = stream_with_context(_events(services(), job, seen))
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return Response(stream, mimetype="text/event-stream", headers=headers)


def _events(svc: Services, job: Job, seen: int) -> Iterator[str]:
    yield "retry: 2000\n\n"
    previous: Job | None = None
    deadline = time.monotonic() + MAX_STREAM_SECONDS
    while time.monotonic() < deadline:
        with svc.watcher.watching(job.id) as changed:
            current = svc.store.get(job.id)
            if current.status.is_final and current.version <= seen:
                return  # reconnected after the end: nothing more will come
            if current.version > seen:
                yield from (_format(current.version, name, data)
                            for name, data in _changes(previous, current, svc))  # fmt: skip
                previous, seen = current, current.version
                if current.status.is_final:
                    return
            if not changed.wait(svc.settings.events_heartbeat_seconds):
                yield ": keep-alive\n\n"


def _changes(before: Job | None, after: Job, svc: Services) -> Iterator[tuple[str, Any]]:
    """The events that take a client from ``before`` (None: knows nothing) to ``after``."""
    body = job_json(after, svc)
    if after.status.is_final:
        yield after.status.value, body
        return
    if before is None or (before.status, before.cancel_requested) != (
        after.status, after.cancel_requested
    ):  # fmt: skip
        yield "status", {"status": after.status.value, "queue_position": body["queue_position"],
                         "cancel_requested": after.cancel_requested}  # fmt: skip
    if after.progress is not None and (before is None or before.progress != after.progress):
        yield "progress", body["progress"]
        if after.has_preview:
            yield "preview", {"iteration": after.progress.iteration, "url": body["preview_url"]}


def _format(event_id: int, name: str, data: Any) -> str:
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def wait_for_change(svc: Services, job: Job, known: int | None, seconds: float) -> Job:
    """The job once its version passes ``known`` (default: now), it ends, or ``seconds`` pass."""
    target = job.version if known is None else known
    longest = min(MAX_WAIT_SECONDS, svc.settings.api_request_timeout_seconds / 2)
    deadline = time.monotonic() + min(seconds, longest)
    while True:
        with svc.watcher.watching(job.id) as changed:
            job = svc.store.get(job.id)
            left = deadline - time.monotonic()
            if job.version > target or job.status.is_final or left <= 0:
                return job
            changed.wait(left)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
