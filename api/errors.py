"""One error renderer for the whole API: every failure is ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import logging

import redis
from flask import Flask, Response, jsonify
from kombu.exceptions import OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from api.auth import Unauthorized
from shared import errors

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[errors.NSTError], int] = {
    errors.InvalidParams: 400,
    errors.ImageTooLarge: 413,
    errors.ImageError: 400,
    Unauthorized: 401,
    errors.JobNotFound: 404,
    errors.ObjectNotFound: 404,
    errors.JobConflict: 409,
    errors.TooManyActiveJobs: 429,
    errors.StorageUnavailable: 503,
}
HTTP_CODES = {
    400: "bad_request", 404: "not_found", 405: "method_not_allowed",
    413: "upload_too_large", 415: "unsupported_media_type",
}  # fmt: skip


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify(error={"code": code, "message": message}), status


def _status_for(exc: errors.NSTError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[kind]
    return 500


def handle_nst_error(exc: errors.NSTError) -> tuple[Response, int]:
    body = {"code": exc.code, "message": exc.message}
    if isinstance(exc, errors.InvalidParams) and exc.field:
        body["field"] = exc.field
    response = jsonify(error=body)
    if isinstance(exc, errors.TooManyActiveJobs):
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
    if isinstance(exc, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="nst"'
    return response, _status_for(exc)


def handle_redis_down(exc: Exception) -> tuple[Response, int]:
    log.warning("job store unreachable: %s", exc)
    return error_response(
        503, "queue_unavailable", "the job store is unreachable; try again shortly"
    )


def handle_http_error(exc: HTTPException) -> tuple[Response, int]:
    status = exc.code or 500
    if isinstance(exc, RequestEntityTooLarge):
        return error_response(
            413, "upload_too_large", "the request is larger than the upload limit"
        )
    return error_response(status, HTTP_CODES.get(status, f"http_{status}"), exc.description or "")


def handle_unexpected(exc: Exception) -> tuple[Response, int]:
    log.exception("unhandled error")
    return error_response(500, "internal_error", "the server failed; the error was logged")


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
