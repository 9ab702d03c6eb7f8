"""Error kinds shared by the API, the worker, the engine and the CLI.

Each failure the product can report has one exception type with a stable
``code``; the API maps types to HTTP statuses in one place (``api/errors.py``)
and the CLI maps them to exit codes in one place (``shared/cli``). Messages are
written for the person who sent the request: they say what was wrong and, where
it helps, what would be accepted.
"""

from __future__ import annotations


class NSTError(Exception):
    """Base of every error the product reports with a code."""

    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParams(NSTError):
    """A job parameter is missing, of the wrong type or out of range."""

    code = "invalid_params"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ImageError(NSTError):
    """An uploaded or local file is not a readable image."""

    code = "invalid_image"


class ImageTooLarge(ImageError):
    """An image declares more pixels than the configured limit (decompression-bomb guard)."""

    code = "image_too_large"


class ConfigError(NSTError):
    """The process configuration is invalid; raised at start-up, never mid-job."""

    code = "invalid_config"


class WeightsUnavailable(ConfigError):
    """The configured VGG19 weights are missing or are not VGG19 weights."""

    code = "weights_unavailable"


class StorageUnavailable(NSTError):
    """Object storage did not answer after the configured retries."""

    code = "storage_unavailable"


class ObjectNotFound(NSTError):
    """A key that should exist in object storage does not."""

    code = "object_not_found"


class JobNotFound(NSTError):
    """No job with this id is visible to the caller (unknown and foreign ids look the same)."""

    code = "job_not_found"


class JobConflict(NSTError):
    """The job is not in a state that allows the requested change."""

    code = "job_conflict"


class JobCancelled(NSTError):
    """The job's owner cancelled it; raised inside a run to stop it at a checkpoint."""

    code = "cancelled"


class EngineFailure(NSTError):
    """The optimization itself failed (non-finite loss, out of memory, ...)."""

    code = "engine_failure"


class TooManyActiveJobs(NSTError):
    """The caller already has as many queued or running jobs as allowed."""

    code = "too_many_jobs"

    def __init__(self, message: str, retry_after_seconds: int = 30) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
