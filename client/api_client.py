"""A Python client for the job service: submit, follow, download and cancel jobs.

The API's error codes come back as the same exception types the server raised
(``InvalidParams``, ``ImageError``, ``JobNotFound``, ...), so callers handle a
bad parameter the same way whether it was caught locally or by the service.
Idempotent reads are retried on connection errors; a submission carries an
``Idempotency-Key`` so that a retried POST can never create two jobs.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urljoin, urlparse

import requests
from pydantic import BaseModel, ValidationError
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from client.event_stream import ServerEvent, follow
from contract.errors import (
    ApiError,
    ErrorBody,
    ImageError,
    InvalidParams,
    JobConflict,
    JobEnded,
    NotFound,
    NotThisService,
    NSTError,
    ServiceUnreachable,
    StorageUnavailable,
    TooManyStreams,
    error_from_body,
)
from contract.jobs import FINAL_STATUSES, JobFailure, JobStatus, is_job_id
from contract.params import JobParams, invalid_params
from contract.resources import JobListing, JobProgress, JobResource, Preset, PresetList

__all__ = ["ApiError", "Client", "JobEnded", "JobHandle", "JobPage", "ServiceUnreachable"]

ImageSource = str | Path | bytes
Resource = TypeVar("Resource", bound=BaseModel)
# A newer server may send fields this version does not know, in a job's params too (JobParams
# itself forbids unknown names, which catches a caller's typo before it is sent): read past them.
NEWER_FIELDS: Final = "ignore"


class JobHandle:
    """One job on the service: its last known state (``resource``) and what can be done with it.

    ``resource`` is the typed answer (``contract.resources.JobResource``), replaced as the job
    changes; ``refresh()`` asks again. Named apart from the job record (``contract.jobs.Job``),
    which is the server's: this object is the client's handle on it.
    """

    def __init__(self, client: Client, resource: JobResource) -> None:
        self.client = client
        self.resource = resource

    def __repr__(self) -> str:
        return f"JobHandle(id={self.id!r}, status={self.status.value!r})"

    @property
    def id(self) -> str:
        return self.resource.id

    @property
    def status(self) -> JobStatus:
        """queued, running, succeeded, failed or cancelled (a ``str`` enum: ``== "queued"``)."""
        return self.resource.status

    @property
    def is_final(self) -> bool:
        return self.resource.is_final

    @property
    def progress(self) -> JobProgress | None:
        return self.resource.progress

    @property
    def error(self) -> JobFailure | None:
        """``code`` and ``message`` for a failed job, else None."""
        return self.resource.error

    @property
    def result_url(self) -> str | None:
        return self.resource.result_url

    @property
    def preview_url(self) -> str | None:
        return self.resource.preview_url

    def refresh(self) -> JobHandle:
        """Fetch the job's current state in place and return it."""
        self.resource = self.client._get_job(f"/v1/jobs/{self.id}")
        return self

    def wait(
        self,
        progress: Callable[[JobHandle], None] | None = None,
        poll_interval: float = 1.0,
        timeout: float | None = None,
        stream: bool = True,
    ) -> JobHandle:
        """Follow the job until it is final; call ``progress`` whenever it changes.

        Follows the job's event stream (no polling); a server or proxy that cannot stream
        falls back to polling every ``poll_interval`` seconds. Returns the job in whatever
        final state it reached (check ``status``); raises TimeoutError if ``timeout`` seconds
        pass first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if progress is not None:
            progress(self)
        if stream and not self.is_final:
            try:
                return self._follow_events(progress, deadline)
            except (
                NotFound,
                NotThisService,
                ServiceUnreachable,
                TooManyStreams,
                requests.RequestException,
                ValueError,
            ):
                pass  # no stream here (an older server, a buffering proxy, the key's stream
                # cap NST_MAX_STREAMS_PER_KEY reached), or an event that is not a job's: poll
        return self._poll(progress, poll_interval, deadline)

    def _follow_events(
        self, progress: Callable[[JobHandle], None] | None, deadline: float | None
    ) -> JobHandle:
        url = urljoin(self.client.api_url, f"v1/jobs/{self.id}/events")
        while not self.is_final:
            for event in follow(self.client.session, url, self.client.check):
                self._apply(event)
                if progress is not None and event.name != "preview":
                    progress(self)
                _check_deadline(self, deadline)
            if not self.is_final:  # the server ended the stream early (its time limit)
                self.refresh()
        return self

    def _apply(self, event: ServerEvent) -> None:
        """Bring ``resource`` up to date with one event (a ValidationError if it is not one)."""
        if event.name == "status":  # status, queue_position, cancel_requested
            changed = {**self.resource.model_dump(), **event.data}
            self.resource = JobResource.model_validate(changed, extra=NEWER_FIELDS)
        elif event.name == "progress":
            update = {"progress": JobProgress.model_validate(event.data, extra=NEWER_FIELDS)}
            self.resource = self.resource.model_copy(update=update)
        elif event.name == "preview":
            self.resource = self.resource.model_copy(update={"preview_url": str(event.data["url"])})
        elif event.name in FINAL_STATUSES:
            self.resource = JobResource.model_validate(event.data, extra=NEWER_FIELDS)

    def _poll(
        self, progress: Callable[[JobHandle], None] | None, interval: float, deadline: float | None
    ) -> JobHandle:
        seen = (self.status, self.progress.iteration if self.progress else -1)
        while not self.is_final:
            _check_deadline(self, deadline)
            time.sleep(interval)
            self.refresh()
            current = (self.status, self.progress.iteration if self.progress else -1)
            if progress is not None and current != seen:
                progress(self)
            seen = current
        return self

    def result_bytes(self) -> bytes:
        """The PNG result; raises JobEnded if the job failed or was cancelled."""
        if self.is_final and self.status != JobStatus.SUCCEEDED:
            raise JobEnded(_ended_message(self), self)
        if self.status != JobStatus.SUCCEEDED or not self.result_url:
            raise JobConflict(f"job {self.id} has no result yet (status {self.status.value})")
        return self.client.fetch(self.result_url)

    def preview_bytes(self) -> bytes | None:
        """The latest checkpoint image (JPEG), or None before the first checkpoint."""
        return self.client.fetch(self.preview_url) if self.preview_url else None

    def cancel(self) -> JobHandle:
        """Ask the service to cancel: a queued job never runs, a running one stops soon.

        Never deletes anything. A cancelled job stays cancelled (no error, safe to retry); a
        job that already succeeded or failed raises JobFinished (a JobConflict) and keeps its
        result: the service checks and cancels in one step, so a job that succeeds while the
        cancel is on its way is never lost. Deleting is ``delete_images``.
        """
        self.resource = self.client.cancel(self.id).resource
        return self

    def delete_images(self) -> JobHandle:
        """Delete a finished job's inputs, previews and result now (they expire anyway).

        Never cancels: a queued or running job raises JobActive (a JobConflict); cancel it
        and wait for it to end first.
        """
        self.resource = self.client.delete_images(self.id).resource
        return self


def _check_deadline(job: JobHandle, deadline: float | None) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise TimeoutError(f"job {job.id} still {job.status.value} when the wait timed out")


def _ended_message(job: JobHandle) -> str:
    reason = f": {job.error.message}" if job.error else ""
    return f"job {job.id} {job.status.value}{reason}"


class JobPage(list[JobHandle]):
    """A page of jobs (a list) and the cursor of the next one (None on the last page)."""

    def __init__(self, jobs: Iterable[JobHandle], next_cursor: str | None) -> None:
        super().__init__(jobs)
        self.next_cursor = next_cursor


class Client:
    """A session with one service; safe to reuse for many jobs (not across threads)."""

    def __init__(
        self, api_url: str, api_key: str | None = None, timeout: float = 30.0, retries: int = 3
    ) -> None:
        self.api_url = service_url(api_url)
        self.timeout = timeout
        self.session = requests.Session()
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"
        self.session.headers["User-Agent"] = "nst-client/0.1"
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=0,
            backoff_factor=0.2,
            allowed_methods=frozenset({"GET", "HEAD"}),
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def submit(
        self,
        content: ImageSource,
        styles: ImageSource | Iterable[ImageSource] = (),
        idempotency_key: str | None = None,
        *,
        style_preset: str | Iterable[str] | None = None,
        webhook_url: str | None = None,
        webhook_events: str | Iterable[str] | None = None,
        **params: Any,
    ) -> JobHandle:
        """Upload the images and parameters; return the queued job.

        ``params`` are JobParams fields (``size=256, iterations=100, style_blend=(0.7, 0.3)``),
        checked here against the same schema before anything is uploaded (InvalidParams naming
        the field); the service then checks its own limits (largest size, most iterations).
        ``style_preset`` names built-in paintings (``client.presets()``) used after the
        uploaded ``styles``; ``webhook_url`` and ``webhook_events`` ask for signed callbacks.
        """
        fields = _checked(params)
        extras = {
            "style_preset": style_preset,
            "webhook_url": webhook_url,
            "webhook_events": webhook_events,
        }
        fields.update({name: value for name, value in extras.items() if value})
        style_list = [styles] if isinstance(styles, str | Path | bytes) else list(styles)
        files = [("content", _upload(content, "content"))]
        files += [("style", _upload(style, f"style{i}")) for i, style in enumerate(style_list)]
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        data = _form_fields(fields)
        resource = self._request_model(
            JobResource, "POST", "/v1/jobs", data=data, files=files, headers=headers
        )
        return JobHandle(self, resource)

    def presets(self) -> list[Preset]:
        """The service's built-in paintings: ``id``, ``title``, ``artist``, ``thumbnail_url``."""
        return self._request_model(PresetList, "GET", "/v1/presets").presets

    def job(self, job_id: str) -> JobHandle:
        return JobHandle(self, self._get_job(_job_path(job_id)))

    def cancel(self, job_id: str) -> JobHandle:
        """Cancel the job with this id in one request (``JobHandle.cancel`` says what it does)."""
        path = f"{_job_path(job_id)}/cancel"
        return JobHandle(self, self._request_model(JobResource, "POST", path))

    def delete_images(self, job_id: str) -> JobHandle:
        """Delete a finished job's images in one request (``JobHandle.delete_images``)."""
        return JobHandle(self, self._request_model(JobResource, "DELETE", _job_path(job_id)))

    def jobs(
        self, status: str | None = None, limit: int = 20, cursor: str | None = None
    ) -> JobPage:
        """One page of the caller's jobs, newest first: at most ``limit``.

        ``cursor`` is the ``next_cursor`` of the page before (None: the first page); jobs
        created in between never repeat one. ``iter_jobs`` follows the cursors for you.
        """
        query: dict[str, Any] = {"limit": limit}
        if status:
            query["status"] = status
        if cursor:
            query["cursor"] = cursor
        listing = self._request_model(JobListing, "GET", "/v1/jobs", params=query)
        return JobPage([JobHandle(self, job) for job in listing.jobs], listing.next_cursor)

    def iter_jobs(self, status: str | None = None, page_size: int = 50) -> Iterator[JobHandle]:
        """Every job of the caller, newest first, a page at a time."""
        cursor: str | None = None
        while True:
            page = self.jobs(status, page_size, cursor)
            yield from page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def fetch(self, url: str) -> bytes:
        """Download an image link: API routes with the key, presigned URLs without it."""
        absolute = urljoin(self.api_url, url)
        if _same_origin(absolute, self.api_url):
            return self._send("GET", absolute).content
        try:
            response = requests.get(absolute, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ServiceUnreachable(f"cannot download {urlparse(absolute).netloc}: {exc}") from exc
        if not response.ok:
            raise StorageUnavailable(f"download failed with HTTP {response.status_code}")
        return response.content

    def _get_job(self, path: str) -> JobResource:
        return self._request_model(JobResource, "GET", path)

    def _request_model(
        self, model: type[Resource], method: str, path: str, **kwargs: Any
    ) -> Resource:
        """Send one request and parse its answer into ``model``.

        An answer that is not that model's JSON (a wrong path, another server behind the URL)
        raises NotThisService, not a ValidationError deep in the caller.
        """
        response = self._send(method, path, **kwargs)
        try:
            return model.model_validate_json(response.content, extra=NEWER_FIELDS)
        except ValidationError:
            raise not_this_service(response) from None

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send one request; map no answer to ServiceUnreachable and errors to typed ones."""
        url = urljoin(self.api_url, path.lstrip("/")) if not path.startswith("http") else path
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise ServiceUnreachable(
                f"cannot reach the service at {self.api_url.rstrip('/')} ({_reason(exc)})"
            ) from exc
        self.check(response)
        return response

    @staticmethod
    def check(response: requests.Response) -> None:
        """Raise the typed error an error answer stands for."""
        if response.status_code >= 400:
            raise api_error(response)


def service_url(url: str) -> str:
    """The service's base URL with a trailing slash; ``host:port`` alone means plain HTTP."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidParams(f"not a service URL: {url!r} (expected http://host:port)", field="api")
    return url.rstrip("/") + "/"


def api_error(response: requests.Response) -> NSTError:
    """Turn an error response into the exception type its code names in contract.errors.

    An answer without the service's error body is another server's: a proxy's 5xx is the
    service being unavailable (try again), any other status means the URL is not this service;
    so is the service's own ``not_found`` for a route (a path before ``/v1``).
    """
    try:
        body = ErrorBody.model_validate_json(response.content).error
    except ValidationError:
        if response.status_code >= 500 or response.status_code in (408, 429):
            return ServiceUnreachable(
                f"{_where(response)} answered HTTP {response.status_code} without the service's "
                "error (a proxy or load balancer?); try again later"
            )
        return not_this_service(response)
    error = error_from_body(body, response.status_code, response.headers.get("Retry-After"))
    if type(error) is NotFound:  # no such route (not "no such job"): the URL's path is wrong
        return not_this_service(response)
    return error


def not_this_service(response: requests.Response) -> NotThisService:
    """The error for an answer that is not this service's (a foreign server, a wrong path)."""
    return NotThisService(
        f"{_where(response)} answered HTTP {response.status_code} but is not the style-transfer "
        "service; check --api or NST_API_URL (e.g. http://127.0.0.1:8000, without a path)"
    )


def _where(response: requests.Response) -> str:
    """The address that answered (no query): the part of the URL a user may have mistyped."""
    parsed = urlparse(response.url or "")
    return f"{parsed.scheme}://{parsed.netloc}{parsed.path}" if parsed.netloc else "the server"


def _job_path(job_id: str) -> str:
    """The job's path; InvalidParams for anything but a job id, before any request.

    A path such as ``../../healthz`` would otherwise be resolved into another route, whose
    answer is not a job.
    """
    if not is_job_id(job_id):
        raise InvalidParams(f"not a job id: {job_id[:40]!r} (expected a UUID)", field="job_id")
    return f"/v1/jobs/{job_id}"


def _upload(source: ImageSource, name: str) -> tuple[str, bytes, str]:
    """A multipart file part; a path that cannot be read raises ImageError."""
    if isinstance(source, bytes):
        return (f"{name}.img", source, "application/octet-stream")
    path = Path(source)
    try:
        return (path.name, path.read_bytes(), "application/octet-stream")
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror}") from None


def _checked(params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate against JobParams; send only what the caller set, so the server's defaults apply."""
    given = {name: value for name, value in params.items() if value is not None}
    try:
        JobParams.model_validate(given)
    except ValidationError as exc:
        raise invalid_params(exc) from None
    return given


def _form_fields(params: Mapping[str, Any]) -> dict[str, str]:
    """Form values as the API reads them: lists comma-separated, None left out."""
    fields = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value)
        fields[name] = str(value)
    return fields


def _same_origin(url: str, base: str) -> bool:
    a, b = urlparse(url), urlparse(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def _reason(exc: Exception) -> str:
    """The innermost cause, e.g. 'Connection refused', without urllib3's wrapping."""
    cause: BaseException = exc
    while cause.__context__ is not None and cause.__context__ is not cause:
        cause = cause.__context__
    text = str(cause)
    return text.split("] ")[-1] if "] " in text else text or type(exc).__name__
