"""Live updates without polling: ``GET /v1/jobs/{id}/events`` (server-sent events) and
``GET /v1/jobs/{id}`` with its ETag and ``Prefer: wait`` long poll.

Both wait on the process's ``JobWatcher`` (one Redis subscription, an Event per waiter), so an
open stream holds a greenlet and a socket, not a thread or a Redis connection (the API runs on
gevent workers, ``api/gunicorn_app.py``). Events: ``status`` (queued/running, queue position, a
pending cancel), ``progress`` (iteration, total, losses, ETA), ``preview`` (a new checkpoint
image), then one of ``succeeded``, ``failed`` or ``cancelled`` with the whole job, and the
stream closes. A comment line every NST_EVENTS_HEARTBEAT_SECONDS keeps proxies from closing an
idle stream and finds dead clients.

What a client has seen is a *state tag*: the job's version, and for a queued job its place in
the queue too (``12.3``), because the place changes when jobs ahead leave while the record does
not. The tag is each event's id and the ETag, so a reconnect (``Last-Event-ID``), a conditional
GET (``If-None-Match``) and a long poll all notice a new place in the queue. A tag that is not
one this job could have had (not ours, or ahead of the job) counts as knowing nothing.

Each open stream and long poll holds one of its key's NST_MAX_STREAMS_PER_KEY slots
(``api/stream_slots.py``): one key cannot take the connections every other caller needs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request, stream_with_context
from werkzeug.wrappers import Response as WerkzeugResponse

from api.auth import owned_job
from api.container import Services, services
from api.parsing import ascii_int
from api.presenters import job_json
from contract.jobs import Job, JobStatus

bp = Blueprint("events", __name__)
MAX_STREAM_SECONDS = 3600.0  # then the client reconnects with Last-Event-ID
MAX_WAIT_SECONDS = 60.0
LEASE_MARGIN_SECONDS = 30.0  # a slot outlives its holder's next renewal by this much


@dataclass(frozen=True)
class StateTag:
    """What a client knows of a job: its version and, while queued, its place in the queue."""

    version: int
    queue_position: int | None = None

    def __str__(self) -> str:
        if self.queue_position is None:
            return str(self.version)
        return f"{self.version}.{self.queue_position}"

    @classmethod
    def parse(cls, text: str | None) -> StateTag | None:
        """A tag this API wrote (``12`` or ``12.3``); None for anything else."""
        version, dot, position = (text or "").partition(".")
        number = ascii_int(version)
        place = ascii_int(position) if dot else None
        if number is None or (dot and place is None):
            return None
        return cls(number, place)


def state_of(job: Job, svc: Services) -> StateTag:
    position = svc.store.queue_position(job.id) if job.status == JobStatus.QUEUED else None
    return StateTag(job.version, position)


@bp.get("/v1/jobs/<job_id>/events")
def job_events(job_id: str) -> Response:
    """Stream the job's changes as server-sent events until it ends."""
    svc = services()
    job = owned_job(job_id)
    seen = StateTag.parse(request.headers.get("Last-Event-ID"))
    lease = 2 * svc.settings.events_heartbeat_seconds + LEASE_MARGIN_SECONDS
    slot = svc.slots.take(job.owner, lease)
    try:
        stream = stream_with_context(_events(svc, job, seen, slot.renew))
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        response = Response(stream, mimetype="text/event-stream", headers=headers)
    except BaseException:
        slot.release()
        raise
    response.call_on_close(slot.release)  # the client left, or the stream ended
    return response


def _events(svc: Services, job: Job, seen: StateTag | None, renew: Any) -> Iterator[str]:
    yield "retry: 2000\n\n"
    previous: dict[str, Any] | None = None
    queued = True
    deadline = time.monotonic() + MAX_STREAM_SECONDS
    while time.monotonic() < deadline:
        with svc.watcher.watching(job.id, queue=queued) as changed:
            current = svc.store.get(job.id)
            tag = state_of(current, svc)
            queued = current.status == JobStatus.QUEUED
            if seen is not None and seen.version > current.version:
                seen = None  # not an id this job gave: send the whole state
            if seen is not None and current.status.is_final and seen.version >= current.version:
                return  # reconnected after the end: nothing more will come
            if tag != seen:
                body = job_json(current, svc)
                yield from (_format(tag, name, data) for name, data in _changes(previous, body))
                previous, seen = body, tag
                if current.status.is_final:
                    return
            if not changed.wait(svc.settings.events_heartbeat_seconds):
                yield ": keep-alive\n\n"
            renew()


def _changes(before: dict[str, Any] | None, after: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """The events that take a client from ``before`` (None: knows nothing) to ``after``."""
    if JobStatus(after["status"]).is_final:
        yield after["status"], after
        return
    status = {key: after[key] for key in ("status", "queue_position", "cancel_requested")}
    if before is None or status != {key: before[key] for key in status}:
        yield "status", status
    progress = after["progress"]
    if progress is not None and (before is None or before["progress"] != progress):
        yield "progress", progress
        if after["preview_url"]:
            yield "preview", {"iteration": progress["iteration"], "url": after["preview_url"]}


def _format(tag: StateTag, name: str, data: Any) -> str:
    return f"id: {tag}\nevent: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def job_response(job: Job) -> WerkzeugResponse:
    """``GET /v1/jobs/{id}``: the job with its state tag as ETag (304 when the client has it);
    with ``Prefer: wait=N``, answered when the state differs from the client's, or after N s."""
    svc = services()
    wait = prefer_wait(request.headers.get("Prefer"))
    if wait is not None:
        longest = min(MAX_WAIT_SECONDS, svc.settings.api_request_timeout_seconds / 2)
        wait = min(wait, longest)
        with svc.slots.holding(job.owner, wait + LEASE_MARGIN_SECONDS):
            job = wait_for_change(svc, job, _known_tags(), wait)
    tag = state_of(job, svc)
    response = jsonify(job_json(job, svc))
    response.set_etag(str(tag), weak=True)
    if wait is not None:
        response.headers["Preference-Applied"] = f"wait={wait:g}"
    return response.make_conditional(request)


def prefer_wait(header: str | None) -> float | None:
    """Seconds from ``Prefer: wait=N`` (RFC 7240: N is delta-seconds, ASCII digits); None when
    not asked, or asked in a form the RFC says a server ignores."""
    for preference in (header or "").split(","):
        name, _, value = preference.strip().partition("=")
        if name.strip().lower() == "wait":
            seconds = ascii_int(value.partition(";")[0].strip().strip('"'))
            return None if seconds is None else min(float(seconds), MAX_WAIT_SECONDS)
    return None


def _known_tags() -> set[StateTag]:
    """The states the client has, from ``If-None-Match``; tags not of this API are ignored."""
    tags = (StateTag.parse(tag) for tag in request.if_none_match.as_set(include_weak=True))
    return {tag for tag in tags if tag is not None}


def wait_for_change(svc: Services, job: Job, known: set[StateTag], seconds: float) -> Job:
    """The job once its state is not one of ``known`` (none given: the state now), once it
    ends, or after ``seconds``."""
    known = known or {state_of(job, svc)}
    deadline = time.monotonic() + seconds
    while True:
        queued = job.status == JobStatus.QUEUED
        with svc.watcher.watching(job.id, queue=queued) as changed:
            job = svc.store.get(job.id)
            left = deadline - time.monotonic()
            if state_of(job, svc) not in known or job.status.is_final or left <= 0:
                return job
            changed.wait(left)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
