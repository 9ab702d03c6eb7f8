"""``GET /v1/meta``: what a client needs to build its form, read from the one schema.

Public (no key), because the web page asks before it has a key: whether keys are needed, the
deployment's limits, every job parameter with its range and default (``contract.param_specs``),
the job statuses, the accepted image formats, each error code's headline (``contract.errors``),
and the workers' measured speed (``shared.speed``; null before a job has run) with the number
of jobs waiting, from which a client estimates a job's time before it is submitted. Nothing in
it is secret or internal.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify

from api.container import services
from contract import errors
from contract.jobs import JobStatus
from contract.param_specs import param_specs
from contract.resources import MeasuredSpeed, Meta, MetaLimits, QueueLength, Statuses
from shared.images import ALLOWED_FORMATS
from shared.speed import measured_speed

bp = Blueprint("meta", __name__)
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def meta_document() -> Meta:
    """The document for the current app's settings."""
    svc = services()
    settings = svc.settings
    speed = measured_speed(svc.store)
    return Meta(
        auth=svc.keys.enabled,
        limits=MetaLimits(
            max_size=settings.max_size,
            max_iterations=settings.max_iterations,
            max_style_images=settings.max_style_images,
            max_upload_bytes=settings.max_upload_bytes,
            max_pixels=settings.max_pixels,
        ),
        params=param_specs(svc.limits),
        statuses=Statuses(
            all=list(JobStatus), final=[status for status in JobStatus if status.is_final]
        ),
        image_types=[MEDIA_TYPES[name] for name in ALLOWED_FORMATS],
        errors={code: kind.headline for code, kind in sorted(errors.registered().items())},
        speed=MeasuredSpeed.model_validate(speed.as_json()) if speed else None,
        # How many jobs wait for a worker now: what "once a worker takes it" depends on.
        queue=QueueLength(queued=svc.store.count(JobStatus.QUEUED)),
    )


@bp.get("/v1/meta")
def meta() -> Response:
    response = jsonify(meta_document().model_dump(mode="json"))
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
