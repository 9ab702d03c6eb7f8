"""The job record: what the API stores and the worker updates.

A job is a small JSON document in Redis (see ``shared/job_store.py``); images
and resumable state live in object storage under keys made from the job id.
What a client sees of it (no owner, no internal counters, links made per
request) is ``contract.resources.JobResource``.
"""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from contract.params import JobParams
from contract.webhooks import JobWebhook


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """Final states never change again; a redelivered message for them is dropped."""
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
FINAL_STATUSES = frozenset(status for status in JobStatus if status.is_final)


class _Terms(Protocol):
    """Three loss terms: a list, a tuple or a numpy array."""

    def __getitem__(self, index: int, /) -> Any: ...


class Losses(BaseModel):
    """Weighted loss terms (alpha*L_content, beta*L_style, tv_weight*TV) and their sum.

    The engine reports these and the job record stores them: one shape for both.
    """

    model_config = ConfigDict(frozen=True)

    content: float
    style: float
    tv: float
    total: float

    @classmethod
    def from_terms(cls, total: float, terms: _Terms) -> Losses:
        """Build from the compiled step's ``(total, [content, style, tv])`` (numpy or floats)."""
        return cls(
            content=float(terms[0]), style=float(terms[1]), tv=float(terms[2]), total=float(total)
        )


class LossWeights(BaseModel):
    """The weights a job's losses ran with: from ``style_strength`` per job, or given raw.

    Recorded on the job so a result can be reproduced with the raw weights, and so a user can
    see what a strength meant for these images.
    """

    model_config = ConfigDict(frozen=True)

    style_strength: float | None = None  # None: an expert job with raw weights
    content_weight: float
    style_weight: float
    tv_weight: float
    content_layer_weights: tuple[float, ...]
    style_layer_weights: tuple[float, ...]


class JobTiming(BaseModel):
    """Where a finished job's time went (seconds): what a GPU-hour bought."""

    queued_seconds: float  # submitted until a worker first took it
    compile_seconds: float  # compiling steps for new image shapes (inside optimize)
    optimize_seconds: float  # the engine's run, this attempt
    checkpoint_seconds: float  # uploading state and previews, in the background
    total_seconds: float  # submitted until it ended
    precision: str | None = None  # what VGG19's convolutions ran in: float32 or bfloat16


class Progress(BaseModel):
    """The latest checkpoint's numbers; ``iteration`` counts over all scales."""

    iteration: int = Field(ge=0)
    total: int = Field(ge=1)
    losses: Losses | None = None
    elapsed_seconds: float = Field(0.0, ge=0)
    stopped_early: bool = False  # the loss plateaued: the job ends at ``iteration``

    @property
    def iterations_saved(self) -> int:
        """Iterations early stop left undone (0 unless it stopped early)."""
        return self.total - self.iteration if self.stopped_early else 0

    @property
    def percent(self) -> float:
        return round(100.0 * self.iteration / self.total, 1)

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the pace so far; None until there is a pace to go by."""
        if self.iteration <= 0 or self.elapsed_seconds <= 0:
            return None
        return round(self.elapsed_seconds / self.iteration * (self.total - self.iteration), 1)


class JobFailure(BaseModel):
    code: str
    message: str


class Job(BaseModel):
    """One style-transfer job as recorded in Redis."""

    model_config = ConfigDict(validate_assignment=False)

    id: str
    owner: str
    version: int = 1  # +1 on every change: ETags and event ids are made of it
    status: JobStatus = JobStatus.QUEUED
    params: JobParams
    style_count: int = Field(ge=1)  # uploaded styles, then style_presets
    style_presets: tuple[str, ...] = ()  # built-in styles by id (shared/presets.py)
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    progress: Progress | None = None
    has_preview: bool = False
    error: JobFailure | None = None
    attempts: int = 0
    outage_retries: int = 0  # times it went back to the queue because storage was down
    lost_runs: int = 0  # runs whose worker died, then taken over or swept back; capped
    resumed_from_iteration: int | None = None
    cancel_requested: bool = False
    heartbeat_at: float | None = None
    worker: str | None = None
    request_digest: str | None = None  # what an Idempotency-Key stands for (api/submission.py)
    loss_weights: LossWeights | None = None  # set by the worker when the job starts
    data_deleted_at: float | None = None  # its images were deleted (NST_RESULT_TTL or DELETE)
    timing: JobTiming | None = None  # set when it succeeds
    webhook: JobWebhook | None = None  # asked for at submit; its delivery attempts recorded here


def new_job_id() -> str:
    """Random, unguessable job ids (UUID4): knowing one id tells nothing of others."""
    return str(uuid.uuid4())


def is_job_id(value: str) -> bool:
    """Tell whether value is a canonical UUID string, before it is used in any key."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
