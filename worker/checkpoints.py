"""What a worker does with the engine's progress reports and saved states.

Progress (numbers and a preview, every NST_PROGRESS_SECONDS) and states (every
NST_CHECKPOINT_SECONDS, or the job's ``checkpoint_every``) go to storage through the job's
``Uploader``, in the background: the engine never waits for storage. The job record is updated
at once; its answer says whether the owner cancelled (stop now) or the worker is draining (ask
the engine for its state now, wait for that upload, then hand the job back). So a cancel or a
drain takes effect within one progress interval.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from contract.errors import JobCancelled
from contract.jobs import Progress
from shared.images import encode_jpeg
from shared.storage import JobKeys
from worker.uploads import Uploader

if TYPE_CHECKING:
    from worker.context import WorkerContext
    from worker.engine_protocols import CheckpointView

log = logging.getLogger(__name__)


class WorkerDraining(Exception):
    """Raised at a checkpoint when this worker is shutting down and must hand the job back."""


class ClaimLost(Exception):
    """Raised at a checkpoint when the job is no longer this worker's (the sweeper moved it)."""


class CheckpointWriter:
    """The engine's ``on_checkpoint`` for one job on one worker."""

    def __init__(self, job_id: str, ctx: WorkerContext, uploader: Uploader) -> None:
        self.job_id = job_id
        self.ctx = ctx
        self.keys = JobKeys(job_id)
        self.uploader = uploader
        self.compile_seconds = 0.0
        self._last = (0, 0.0)  # (iteration, elapsed) of the previous report

    def __call__(self, checkpoint: CheckpointView) -> bool:
        """Queue the uploads, record progress; True asks the engine for its state at once."""
        if checkpoint.state is not None:
            self.uploader.put(self.keys.state, checkpoint.state, "application/octet-stream")
        self.uploader.put(self.keys.preview, encode_jpeg(checkpoint.image), "image/jpeg")
        self._observe_pace(checkpoint)
        self.compile_seconds = checkpoint.compile_seconds
        job = self.ctx.store.record_progress(
            self.job_id,
            self.ctx.worker_name,
            _progress(checkpoint),
            has_preview=self.uploader.stored(self.keys.preview),
            weights=checkpoint.weights,
        )
        if job is None:
            raise ClaimLost()
        if self.ctx.webhooks is not None:
            self.ctx.webhooks.job_progressed(job)
        if job.cancel_requested:
            raise JobCancelled("cancelled by its owner")
        if checkpoint.iteration < checkpoint.total and self.ctx.store.is_draining(
            self.ctx.worker_name
        ):
            if checkpoint.state is None:
                return True
            self.uploader.flush()  # the state the next worker resumes from is stored
            raise WorkerDraining()
        return False

    def _observe_pace(self, checkpoint: CheckpointView) -> None:
        iteration, elapsed = self._last
        done = checkpoint.iteration - iteration
        if done > 0 and iteration > 0:
            self.ctx.metrics.iteration_seconds.observe(
                (checkpoint.elapsed_seconds - elapsed) / done
            )
        self._last = (checkpoint.iteration, checkpoint.elapsed_seconds)


def _progress(checkpoint: CheckpointView) -> Progress:
    return Progress(
        iteration=checkpoint.iteration,
        total=checkpoint.total,
        losses=checkpoint.losses,
        elapsed_seconds=checkpoint.elapsed_seconds,
        stopped_early=checkpoint.stopped_early,
    )
