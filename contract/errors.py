"""Every error the product reports, each once: its code, HTTP status, exit status and headline.

One exception type per kind of failure, each with a stable ``code``. The class is the only place
that says what the failure means elsewhere: the API's status table (``api/errors.py``), the
client's exception for an error body (``error_for``), the CLI's exit status (``exit_code``) and
the web page's headline (served by ``/v1/meta``) are all read from here. Messages are written for
the person who sent the request: they say what was wrong and, where it helps, what would be
accepted; they never carry an internal address or path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

EXIT_OK = 0
EXIT_JOB_FAILED = 1  # the job failed or was cancelled
EXIT_USAGE = 2  # a usage or input error: the same command will fail again
EXIT_UNAVAILABLE = 3  # the service cannot be reached or cannot serve now: try again later
EXIT_NOT_SERVICE = 4  # the URL answers, but not as this service (wrong --api, host or path)
EXIT_INTERRUPTED = 130

_REGISTRY: dict[str, type[NSTError]] = {}


class NSTError(Exception):
    """Base of every error the product reports with a code."""

    code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = EXIT_JOB_FAILED
    headline: ClassVar[str] = "Something went wrong"
    # The error the API answers for a bare HTTP status (a Werkzeug or gunicorn error page).
    for_http_status: ClassVar[bool] = False
    status: int | None = None  # the HTTP status it came with, when a client rebuilt it
    # The parameter or form field at fault, when there is one, so a form can show the error
    # next to it (set by InvalidParams, and by api/submission.py on an ImageError).
    field: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Register every subclass that declares its own code; two classes never share one."""
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            if cls.code in _REGISTRY:
                raise TypeError(f"error code {cls.code!r} is declared twice")
            _REGISTRY[cls.code] = cls

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def detail(self) -> ErrorDetail:
        """The ``error`` object of an API response."""
        return ErrorDetail(code=self.code, message=self.message, field=self.field or None)

    def body(self) -> dict[str, Any]:
        """``detail()`` as JSON-ready data (``field`` left out when there is none)."""
        return self.detail().model_dump(mode="json")

    @classmethod
    def from_body(cls, detail: ErrorDetail, retry_after: str | None) -> NSTError:
        """Rebuild the error from an API error body (the client's side of ``detail``)."""
        return cls(detail.message)


class InternalError(NSTError):
    """The server failed in a way it did not foresee; the details are in its log only."""

    code = "internal_error"
    headline = "The service failed"
    for_http_status = True


# -- the request ------------------------------------------------------------------------------
class BadRequest(NSTError):
    """The HTTP request itself is malformed (not one of its parameters)."""

    code = "bad_request"
    http_status = 400
    exit_code = EXIT_USAGE
    headline = "The request was not understood"
    for_http_status = True


class InvalidParams(NSTError):
    """A job parameter is missing, of the wrong type or out of range."""

    code = "invalid_params"
    http_status = 400
    exit_code = EXIT_USAGE
    headline = "A setting is not accepted"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    @classmethod
    def from_body(cls, detail: ErrorDetail, retry_after: str | None) -> NSTError:
        return cls(detail.message, field=detail.field)


class ImageError(NSTError):
    """An uploaded or local file is not a readable image."""

    code = "invalid_image"
    http_status = 400
    exit_code = EXIT_USAGE
    headline = "That file is not an image the service can read"
    # ``field``: the form field of the file at fault ("content", "style"), set where the upload
    # is known (api/submission.py).


class UnsupportedAspectRatio(ImageError):
    """An image is too long and thin for the engine at the requested size."""

    code = "unsupported_aspect_ratio"
    headline = "That image is too long and thin"


class ImageTooLarge(ImageError):
    """An image declares more pixels than the configured limit (decompression-bomb guard)."""

    code = "image_too_large"
    http_status = 413
    headline = "That image is too large"


class TooManyFiles(InvalidParams):
    """More files in one request than a job can use (one photo, NST_MAX_STYLE_IMAGES paintings)."""

    code = "too_many_files"


class InvalidIdempotencyKey(InvalidParams):
    """An Idempotency-Key that is empty, too long or not printable ASCII (it is stored per key)."""

    code = "invalid_idempotency_key"


class FormTooLarge(NSTError):
    """The form has more parts, or a text field larger, than any job needs (parser's bound)."""

    code = "form_too_large"
    http_status = 413
    exit_code = EXIT_USAGE
    headline = "The form has too many parts"


class UploadTooLarge(ImageError):
    """The whole request is larger than the upload limit."""

    code = "upload_too_large"
    http_status = 413
    headline = "The files are too large to upload together"
    for_http_status = True


class Unauthorized(NSTError):
    """The API key is missing or not valid."""

    code = "unauthorized"
    http_status = 401
    exit_code = EXIT_USAGE
    headline = "The API key was not accepted"


class NotFound(NSTError):
    """No such route."""

    code = "not_found"
    http_status = 404
    exit_code = EXIT_USAGE
    headline = "There is nothing at that address"
    for_http_status = True


class JobNotFound(NSTError):
    """No job with this id is visible to the caller (unknown and foreign ids look the same)."""

    code = "job_not_found"
    http_status = 404
    exit_code = EXIT_USAGE
    headline = "That job could not be found"


class ObjectNotFound(NSTError):
    """A key that should exist in object storage does not."""

    code = "object_not_found"
    http_status = 404
    headline = "A stored image is missing"


class MethodNotAllowed(NSTError):
    code = "method_not_allowed"
    http_status = 405
    exit_code = EXIT_USAGE
    headline = "That action is not possible here"
    for_http_status = True


class RequestTimeout(NSTError):
    """The client took too long to send its request."""

    code = "request_timeout"
    http_status = 408
    exit_code = EXIT_UNAVAILABLE
    headline = "The upload took too long"
    for_http_status = True


class JobConflict(NSTError):
    """The job is not in a state that allows the requested change."""

    code = "job_conflict"
    http_status = 409
    exit_code = EXIT_USAGE
    headline = "That job cannot do this now"


class JobFinished(JobConflict):
    """A cancel reached a job that already succeeded or failed: nothing is changed or deleted.

    A cancel that arrives just after the job succeeded must never cost the user the picture;
    deleting it is the separate, explicit ``DELETE``.
    """

    code = "job_finished"
    headline = "That job has already finished"


class JobActive(JobConflict):
    """A delete reached a job that is still queued or running: cancel it first."""

    code = "job_active"
    headline = "That job is still running"


class IdempotencyKeyReused(NSTError):
    """An Idempotency-Key came back with a different request (IETF Idempotency-Key draft)."""

    code = "idempotency_key_reused"
    http_status = 422
    exit_code = EXIT_USAGE
    headline = "That request key was already used for a different job"


class WebhooksDisabled(NSTError):
    """This deployment has no webhook secret (NST_WEBHOOK_SECRET), so it sends no webhooks."""

    code = "webhooks_disabled"
    http_status = 404
    exit_code = EXIT_USAGE
    headline = "This service does not send webhooks"


class UriTooLong(NSTError):
    code = "uri_too_long"
    http_status = 414
    exit_code = EXIT_USAGE
    headline = "The address is too long"
    for_http_status = True


class UnsupportedMediaType(NSTError):
    code = "unsupported_media_type"
    http_status = 415
    exit_code = EXIT_USAGE
    headline = "The request is not in a form the service takes"
    for_http_status = True


class HeadersTooLarge(NSTError):
    code = "headers_too_large"
    http_status = 431
    exit_code = EXIT_USAGE
    headline = "The request headers are too large"
    for_http_status = True


class TooManyActiveJobs(NSTError):
    """The caller already has as many queued or running jobs as allowed."""

    code = "too_many_jobs"
    http_status = 429
    exit_code = EXIT_UNAVAILABLE
    headline = "You already have as many jobs waiting or running as allowed"

    def __init__(self, message: str, retry_after_seconds: int = 30) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds

    @classmethod
    def from_body(cls, detail: ErrorDetail, retry_after: str | None) -> NSTError:
        seconds = (retry_after or "")[:6]  # ASCII digits only: int() refuses "²", isdigit() not
        return cls(detail.message, int(seconds) if seconds.isascii() and seconds.isdigit() else 30)


class TooManyStreams(NSTError):
    """The caller already holds as many open event streams and long polls as allowed."""

    code = "too_many_streams"
    http_status = 429
    exit_code = EXIT_UNAVAILABLE
    headline = "You already have as many live updates open as allowed"

    def __init__(self, message: str, retry_after_seconds: int = 5) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds

    @classmethod
    def from_body(cls, detail: ErrorDetail, retry_after: str | None) -> NSTError:
        seconds = (retry_after or "")[:6]  # ASCII digits only: int() refuses "²", isdigit() not
        return cls(detail.message, int(seconds) if seconds.isascii() and seconds.isdigit() else 5)


# -- the service's dependencies ----------------------------------------------------------------
class ServerTimeout(NSTError):
    """A request was not finished within NST_API_REQUEST_TIMEOUT_SECONDS (the log says where)."""

    code = "server_timeout"
    http_status = 503
    exit_code = EXIT_UNAVAILABLE
    headline = "The service did not answer in time"


class StorageUnavailable(NSTError):
    """Object storage did not answer within the configured retry budget."""

    code = "storage_unavailable"
    http_status = 503
    exit_code = EXIT_UNAVAILABLE
    headline = "The service cannot store images right now"


class QueueUnavailable(NSTError):
    """The job store and queue (Redis) cannot be reached."""

    code = "queue_unavailable"
    http_status = 503
    exit_code = EXIT_UNAVAILABLE
    headline = "The service cannot take jobs right now"


class NotReady(NSTError):
    """A readiness probe failed: a dependency does not answer."""

    code = "not_ready"
    http_status = 503
    exit_code = EXIT_UNAVAILABLE
    headline = "The service is not ready"


class ServiceUnreachable(NSTError, ConnectionError):
    """No HTTP answer at all: wrong URL, service down, or a network failure (client side)."""

    code = "service_unreachable"
    http_status = 503
    exit_code = EXIT_UNAVAILABLE
    headline = "The service cannot be reached"


class NotThisService(NSTError):
    """An HTTP answer without this service's error body or JSON: another server, a wrong path.

    Client side only: a foreign server's ``404`` is not a job that failed, and retrying the
    same URL cannot help, so it has its own exit status.
    """

    code = "not_this_service"
    http_status = 502
    exit_code = EXIT_NOT_SERVICE
    headline = "That address is not the style-transfer service"


# -- how a job ends ---------------------------------------------------------------------------
class JobCancelled(NSTError):
    """The job's owner cancelled it; raised inside a run to stop it at a checkpoint."""

    code = "cancelled"
    headline = "The job was cancelled"


class JobEnded(NSTError):
    """The job finished without a result: it failed or was cancelled (client side)."""

    code = "job_ended"
    http_status = 409
    headline = "The job ended without a picture"

    def __init__(self, message: str, job: object = None) -> None:
        super().__init__(message)
        self.job = job  # the client's Job, when the client raised it


class EngineFailure(NSTError):
    """The optimization itself failed (non-finite loss, out of memory, ...)."""

    code = "engine_failure"
    headline = "The picture could not be made"


class InsufficientMemory(EngineFailure):
    """The job would not fit in the worker's memory; refused before it started."""

    code = "insufficient_memory"
    headline = "The picture is too large for this service's workers"


class WorkerLost(NSTError):
    """The job's worker stopped answering too many times."""

    code = "worker_lost"
    headline = "The job's worker stopped answering"


# -- configuration ----------------------------------------------------------------------------
class ConfigError(NSTError):
    """The process configuration is invalid; raised at start-up, never mid-job."""

    code = "invalid_config"
    exit_code = EXIT_USAGE
    headline = "The configuration is not valid"


class WeightsUnavailable(ConfigError):
    """The configured VGG19 weights are missing or are not VGG19 weights."""

    code = "weights_unavailable"
    headline = "The model weights cannot be loaded"


def registered() -> Mapping[str, type[NSTError]]:
    """Every error code and its class."""
    return dict(_REGISTRY)


def error_for_status(status: int) -> type[NSTError]:
    """The error the API answers for a bare HTTP status; unknown ones are internal errors."""
    for kind in _REGISTRY.values():
        if kind.for_http_status and kind.http_status == status:
            return kind
    return BadRequest if 400 <= status < 500 else InternalError


def error_from_body(
    body: ErrorDetail | Mapping[str, Any], status: int, retry_after: str | None = None
) -> NSTError:
    """Rebuild the exception an API error body describes; ``ApiError`` for an unknown code.

    ``body`` is the ``error`` object; a mapping is validated as ``ErrorDetail`` (pydantic's
    ValidationError, a ValueError, when it is not one).
    """
    detail = body if isinstance(body, ErrorDetail) else ErrorDetail.model_validate(body)
    kind = _REGISTRY.get(detail.code)
    if kind is None:
        return ApiError(detail.message or f"HTTP {status}", detail.code, status)
    error = kind.from_body(detail, retry_after)
    error.status = status
    return error


def _registered_codes(schema: dict[str, Any]) -> None:
    """The schema's ``enum`` of codes, read from the registry when the schema is made."""
    schema["enum"] = sorted(_REGISTRY)


class ErrorDetail(BaseModel):
    """The ``error`` object of every error answer: built by ``NSTError.detail``, read back by
    ``error_from_body``. A code this version does not know is still read (``ApiError``)."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(
        description="Stable, machine-readable code.",
        examples=["invalid_params"],
        json_schema_extra=_registered_codes,
    )
    message: str = Field(
        description="Human-readable reason.", examples=["size: must be at most 1024"]
    )
    field: str | None = Field(
        None,
        description="The parameter or form field at fault, when there is one (absent otherwise).",
        examples=["size"],
        exclude_if=lambda value: value is None,
    )


class ErrorBody(BaseModel):
    """Every error the API returns: ``{"error": {"code", "message"[, "field"]}}``."""

    model_config = ConfigDict(frozen=True)

    error: ErrorDetail


class ApiError(NSTError):
    """The service answered with a code this version does not know (a newer server)."""

    def __init__(self, message: str, code: str = "api_error", status: int | None = None) -> None:
        super().__init__(message)
        self.code = code  # type: ignore[misc]  # per instance: the server's own code
        self.status = status
