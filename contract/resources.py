"""What the API answers, as models: the one description of each resource on the wire.

The API builds these and sends ``model_dump(mode="json")`` (``api/presenters.py``, ``api/meta.py``,
``api/presets.py``); the OpenAPI document's schemas are their ``model_json_schema``
(``api/openapi.py``); the client parses each answer into them (``client/api_client.py``). A field
added here is therefore sent, documented and read, or a test in ``tests/contract`` fails. The job
*record* (what Redis holds, with its owner and internal counters) is ``contract.jobs.Job``; the
resource below is what a client may see of it, with links made per request.

The error body is ``contract.errors.ErrorBody`` and the webhook secret
``contract.webhooks.WebhookSecret``: each lives beside what it describes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, overload

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from contract.jobs import JobFailure, JobStatus, JobTiming, Losses, LossWeights, Progress
from contract.param_specs import ParamSpec
from contract.params import JobParams
from contract.webhooks import WebhookAttempt, WebhookEvent

EXAMPLE_ID = "3f2b5c1e-8d4a-4b7e-9c1d-2a6f0e9b7c43"
EXAMPLE_STAMP = "2026-11-25T18:00:00.000Z"


def iso(moment: datetime) -> str:
    """UTC to the millisecond with a ``Z``: what every timestamp of the API looks like."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@overload
def utc(timestamp: float) -> datetime: ...
@overload
def utc(timestamp: None) -> None: ...
def utc(timestamp: float | None) -> datetime | None:
    """A record's Unix seconds as an aware UTC datetime (None stays None)."""
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


# A datetime in Python, ``2026-11-25T18:00:00.000Z`` on the wire and ``date-time`` in the schema.
Timestamp = Annotated[
    datetime,
    PlainSerializer(iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": [EXAMPLE_STAMP]}),
]


class _Resource(BaseModel):
    """An answer of the API: immutable once built, and newer servers' extra fields ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


# -- the job -----------------------------------------------------------------------------------
class JobProgress(_Resource):
    """The latest checkpoint as a client sees it: the record's figures and those derived."""

    iteration: int = Field(description="Iterations done, over all scales.", examples=[50])
    total: int = Field(description="Iterations in the whole job.", examples=[300])
    percent: float = Field(description="iteration / total, in percent.", examples=[16.7])
    losses: Losses | None = Field(
        description="Loss terms at the latest checkpoint (already weighted)."
    )
    elapsed_seconds: float = Field(description="Optimization time so far.", examples=[12.5])
    eta_seconds: float | None = Field(
        description="Estimated seconds left at the pace so far.", examples=[62.5]
    )
    stopped_early: bool = Field(
        description="The loss plateaued (early_stop): the job ends at iteration."
    )
    iterations_saved: int = Field(
        description="Iterations early stop left undone (total - iteration).", examples=[0]
    )

    @classmethod
    def of(cls, progress: Progress) -> JobProgress:
        """The record's progress with its derived figures (percent, time left, saved)."""
        return cls(
            **progress.model_dump(),
            percent=progress.percent,
            eta_seconds=progress.eta_seconds,
            iterations_saved=progress.iterations_saved,
        )


class DeliveryAttempt(_Resource):
    """One webhook delivery attempt as a client sees it (``contract.webhooks.WebhookAttempt``)."""

    message_id: str = Field(description="The webhook-id header (one per message).")
    event: WebhookEvent = Field(description="Which event.")
    attempt: int = Field(description="1 for the first try of this message.", examples=[1])
    at: Timestamp = Field(description="When it began (UTC).")
    status_code: int | None = Field(description="The receiver's HTTP status.", examples=[200])
    error: str | None = Field(description="Why it did not count as delivered.")
    delivered: bool = Field(description="The receiver answered 2xx.")

    @classmethod
    def of(cls, attempt: WebhookAttempt) -> DeliveryAttempt:
        return cls(**{**attempt.model_dump(), "at": utc(attempt.at)}, delivered=attempt.delivered)


class JobWebhookView(_Resource):
    """The webhook asked for at submit and its delivery attempts, oldest first."""

    url: str = Field(description="Where events are POSTed.", examples=["https://example.com/hook"])
    events: list[WebhookEvent]
    attempts: list[DeliveryAttempt]


class JobLinks(_Resource):
    """Related URLs."""

    self: str = Field(description="This job's status URL.", examples=[f"/v1/jobs/{EXAMPLE_ID}"])


class JobResource(_Resource):
    """A job as the API shows it to its owner: ``GET /v1/jobs/{id}`` and every job answer."""

    id: str = Field(
        description="Job id (UUID4), also the Celery task id.",
        examples=[EXAMPLE_ID],
        json_schema_extra={"format": "uuid"},
    )
    status: JobStatus = Field(description="Where the job is in its life.")
    queue_position: int | None = Field(
        description="While queued: 1 is the next job a worker takes.", examples=[3]
    )
    progress: JobProgress | None = Field(
        description="The latest checkpoint; null until the first one."
    )
    preview_url: str | None = Field(description="Latest checkpoint image (time-limited URL).")
    result_url: str | None = Field(
        description="The result image once succeeded (time-limited URL)."
    )
    error: JobFailure | None = Field(
        description="Why the job failed ({code, message}); null otherwise."
    )
    cancel_requested: bool = Field(description="A cancel was asked and is being honoured.")
    attempts: int = Field(description="How many times a worker started the job.", examples=[1])
    resumed_from_iteration: int | None = Field(
        description="Iteration a redelivered job resumed from."
    )
    created_at: Timestamp = Field(description="When the job was submitted (UTC).")
    updated_at: Timestamp = Field(description="Last change to the record (UTC).")
    started_at: Timestamp | None = Field(description="First start on a worker (UTC).")
    finished_at: Timestamp | None = Field(description="When it reached a final state (UTC).")
    images_expire_at: Timestamp | None = Field(
        description="When a finished job's images are deleted (NST_RESULT_TTL)."
    )
    images_deleted_at: Timestamp | None = Field(
        description="When its images were deleted (retention or DELETE)."
    )
    style_count: int = Field(description="Number of style images.", examples=[1])
    params: JobParams
    loss_weights: LossWeights | None = Field(
        description="The weights the losses ran with (what style_strength meant for these "
        "images); null until the job starts."
    )
    timing: JobTiming | None = Field(
        description="Where a succeeded job's time went (seconds): queue, compile, optimize, "
        "background uploads, total."
    )
    webhook: JobWebhookView | None = Field(
        description="The webhook asked for at submit and its delivery attempts; null if none."
    )
    links: JobLinks

    @property
    def is_final(self) -> bool:
        return self.status.is_final


class JobListing(_Resource):
    """``GET /v1/jobs``: a page of the caller's jobs, newest first, and where the next starts."""

    jobs: list[JobResource]
    next: str | None = Field(
        description="URL of the next page (carries the cursor); null on the last."
    )
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last."
    )


# -- the service -------------------------------------------------------------------------------
class Preset(_Resource):
    """A built-in style, picked at submit with ``style_preset=<id>``."""

    id: str = Field(examples=["starry_night"])
    title: str
    artist: str | None
    thumbnail_url: str


class PresetList(_Resource):
    """``GET /v1/presets``."""

    presets: list[Preset]


class MetaLimits(_Resource):
    """The deployment's bounds on a job and its uploads."""

    max_size: int
    max_iterations: int
    max_style_images: int
    max_upload_bytes: int
    max_pixels: int


class Statuses(_Resource):
    all: list[JobStatus]
    final: list[JobStatus]


class MeasuredSpeed(_Resource):
    """The workers' measured pace (``shared/speed.py``): what a time estimate goes by."""

    seconds_per_megapixel_iteration: float
    startup_seconds: float
    jobs_measured: int


class QueueLength(_Resource):
    queued: int = Field(description="Jobs waiting for a worker now.")


class Meta(_Resource):
    """``GET /v1/meta``: what a client needs to build its form and estimate a job's time."""

    auth: bool = Field(description="Whether requests need an API key.")
    limits: MetaLimits
    params: list[ParamSpec] = Field(
        description="Every job parameter, in the schema's order, with the deployment's limits."
    )
    statuses: Statuses
    image_types: list[str] = Field(examples=[["image/jpeg", "image/png", "image/webp"]])
    errors: dict[str, str] = Field(description="Each error code's headline.")
    speed: MeasuredSpeed | None = Field(description="Null before a job has run a few iterations.")
    queue: QueueLength
