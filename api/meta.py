"""``GET /v1/meta``: what a client needs to build its form, read from the one schema.

Public (no key), because the web page asks before it has a key: whether keys are needed, the
deployment's limits, every job parameter with its range and default (``contract.param_specs``),
the job statuses, the accepted image formats, each error code's headline (``contract.errors``),
and the workers' measured speed (``shared.speed``; null before a job has run) with the number
of jobs waiting, from which a client estimates a job's time before it is submitted. Nothing in
it is secret or internal.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, jsonify

from api.container import services
from contract import errors
from contract.jobs import JobStatus
from contract.param_specs import param_specs
from shared.images import ALLOWED_FORMATS
from shared.speed import measured_speed

bp = Blueprint("meta", __name__)
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def meta_document() -> dict[str, Any]:
    """The document for the current app's settings."""
    svc = services()
    settings = svc.settings
    speed = measured_speed(svc.store)
    return {
        "auth": svc.keys.enabled,
        "limits": {
            "max_size": settings.max_size,
            "max_iterations": settings.max_iterations,
            "max_style_images": settings.max_style_images,
            "max_upload_bytes": settings.max_upload_bytes,
            "max_pixels": settings.max_pixels,
        },
        "params": [spec.as_json() for spec in param_specs(svc.limits)],
        "statuses": {
            "all": [status.value for status in JobStatus],
            "final": [status.value for status in JobStatus if status.is_final],
        },
        "image_types": [MEDIA_TYPES[name] for name in ALLOWED_FORMATS],
        "errors": {code: kind.headline for code, kind in sorted(errors.registered().items())},
        "speed": speed.as_json() if speed else None,
        # How many jobs wait for a worker now: what "once a worker takes it" depends on.
        "queue": {"queued": svc.store.count(JobStatus.QUEUED)},
    }


@bp.get("/v1/meta")
def meta() -> Response:
    response = jsonify(meta_document())
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
