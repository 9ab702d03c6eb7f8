"""One error renderer for the whole API: every failure is ``{"error": {"code", "message"}}``.

Statuses come from the error classes in ``shared/errors.py``; nothing here lists codes. A
failure's details (an internal address, a path, a trace) go to the log, never to the client.
"""

from __future__ import annotations

import logging

import redis
from flask import Flask, Response, jsonify
from kombu.exceptions import OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from shared import errors

log = logging.getLogger(__name__)


def render(exc: errors.NSTError) -> tuple[Response, int]:
    """The JSON answer for a product error, with the headers its kind calls for."""
    response = jsonify(error=exc.body())
    if isinstance(exc, errors.TooManyActiveJobs):
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
        return render(errors.UploadTooLarge("the request is larger than the upload limit"))
    kind = errors.error_for_status(status)
    response, _ = render(kind(exc.description or kind.headline))
    return response, status


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
