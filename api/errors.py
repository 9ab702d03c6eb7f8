"""One error renderer for the whole API: every failure is ``{"error": {"code", "message"}}``.

Statuses come from the error classes in ``contract/errors.py``; nothing here lists codes. A
failure's details (an internal address, a path, a trace) go to the log, never to the client.
"""

from __future__ import annotations

import logging

import redis
from flask import Flask, Response, current_app, jsonify, request
from kombu.exceptions import OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from contract import errors

log = logging.getLogger(__name__)
MAX_FORM_PARTS = 1000  # Werkzeug's default: a parser bound far above what any job sends


def render(exc: errors.NSTError) -> tuple[Response, int]:
    """The JSON answer for a product error, with the headers its kind calls for."""
    response = jsonify(errors.ErrorBody(error=exc.detail()).model_dump(mode="json"))
    if isinstance(exc, errors.TooManyActiveJobs | errors.TooManyStreams):
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
    if isinstance(exc, errors.Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="nst"'
    return response, exc.http_status


def handle_nst_error(exc: errors.NSTError) -> tuple[Response, int]:
    if isinstance(exc, errors.StorageUnavailable):
        log.warning("object storage unavailable: %s", exc.message)
        exc = errors.StorageUnavailable("object storage is unreachable; try again shortly")
    return render(exc)


def handle_redis_down(exc: Exception) -> tuple[Response, int]:
    log.warning("job store unreachable: %s", exc)
    return render(errors.QueueUnavailable("the job store is unreachable; try again shortly"))


def handle_http_error(exc: HTTPException) -> tuple[Response, int]:
    status = exc.code or 500
    if isinstance(exc, RequestEntityTooLarge):
        return render(_too_large())
    kind = errors.error_for_status(status)
    response, _ = render(kind(exc.description or kind.headline))
    return response, status


def _too_large() -> errors.NSTError:
    """Which limit a 413 from Werkzeug hit: the body's size, or the form parser's bounds.

    Werkzeug raises the same exception for all three; the declared length tells them apart (a
    body within the byte limit was stopped by the part count or a text field's size).
    """
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is None or request.content_length > limit:
        return errors.UploadTooLarge(
            f"the request is larger than the upload limit of {limit / 2**20:.3g} MB"
        )
    return errors.FormTooLarge(
        f"the form has more than {MAX_FORM_PARTS} parts or a text field over "
        f"{current_app.config['MAX_FORM_MEMORY_SIZE'] // 1024} KB; a job takes one content "
        "image, a few style images and its settings"
    )


def handle_unexpected(exc: Exception) -> tuple[Response, int]:
    log.exception("unhandled error")
    return render(errors.InternalError("the server failed; the error was logged"))


def init_app(app: Flask) -> None:
    app.register_error_handler(errors.NSTError, handle_nst_error)
    app.register_error_handler(HTTPException, handle_http_error)
    for kind in (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OperationalError):
        app.register_error_handler(kind, handle_redis_down)
    app.register_error_handler(Exception, handle_unexpected)

    @app.after_request
    def no_sniffing(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
