"""A simulated engine for control-plane benchmarks: an H100's time, real objects, no GPU.

Not part of the service: a worker runs it only when told its import path,
``NST_ENGINE=benchmarks.simulated_engine:from_settings`` (``SIMULATED_ENGINE``;
``worker/lifecycle.py`` imports whatever engine the setting names, and the API refuses any
engine but vgg19). For every iteration it sleeps the device time measured on one H100
(benchmarks/README.md, "Backends and GPU") and, on the real engine's cadence (progress every
NST_PROGRESS_SECONDS, state every NST_CHECKPOINT_SECONDS), hands the runner what the real
engine would: an image of the job's output size and a state blob as large as the real
optimizer state. So the runner stores real previews, checkpoints and results in real storage,
and Redis, the API and the sweeper carry their real load, while no GPU is held. It imports no
TensorFlow: a simulated worker starts in about a second and holds no model.

What it leaves out, by design: the loss values are made up (decreasing, never plateauing,
so early stop never fires), and multi-scale jobs are timed as if every pass ran at the final
size (an upper bound). A state from the real engine is refused, and the other way round.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

from contract.errors import EngineFailure
from contract.jobs import Losses, LossWeights
from contract.params import JobParams
from shared.images import working_size
from shared.settings import Settings
from worker.nst.options import REPORT_NOTHING, RunOptions
from worker.nst.results import Checkpoint, TransferResult

SIMULATED_ENGINE = "benchmarks.simulated_engine:from_settings"  # the NST_ENGINE that selects it

# Seconds per iteration on one H100 (benchmarks/README.md, "Backends and GPU", float32 dots):
# (pixels, seconds) at 512 x 384 and at 1024 x 768, per optimizer.
H100_SECONDS = {
    "lbfgs": ((512 * 384, 0.0241), (1024 * 768, 0.0961)),
    "adam": ((512 * 384, 0.0093), (1024 * 768, 0.0291)),
}
MIN_ITERATION_SECONDS = 1e-4
# Image-sized float32 arrays in the real engine's state (worker/nst/state.py): the image, plus
# L-BFGS's 10 (s, y) pairs and gradient, or Adam's two moments.
LBFGS_HISTORY = 10
STATE_ARRAYS = {"lbfgs": 1 + 2 * LBFGS_HISTORY + 1, "adam": 1 + 2}
STATE_MAGIC = b"nst-simulated-state-v1\n"
NOISE_BLOCK_BYTES = 1 << 20


def iteration_seconds(optimizer: str, width: int, height: int) -> float:
    """Modelled H100 seconds for one iteration: linear in pixels through the two measurements."""
    (p0, t0), (p1, t1) = H100_SECONDS[optimizer]
    seconds = t0 + (t1 - t0) / (p1 - p0) * (width * height - p0)
    return max(seconds, MIN_ITERATION_SECONDS)


def real_state_bytes(optimizer: str, width: int, height: int) -> int:
    """About what the real engine's checkpoint state weighs at this size (float32 arrays)."""
    return STATE_ARRAYS[optimizer] * width * height * 3 * 4


@dataclass(frozen=True)
class _Run:
    """What stays fixed while one simulated job runs."""

    params: JobParams
    fingerprint: str
    image: np.ndarray
    total: int
    per_iteration: float
    state_bytes: int
    weights: LossWeights
    started: float  # monotonic time the run would have started had it never stopped

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def from_settings(settings: Settings) -> SimulatedEngine:
    """The worker's factory (``SIMULATED_ENGINE``): state as large as NST_SIMULATED_STATE_BYTES
    says, or as the real engine's at each job's size."""
    return SimulatedEngine(settings.simulated_state_bytes)


class SimulatedEngine:
    """The engine interface (``worker.engine_protocols.Engine``), sleeping for the GPU's work."""

    def __init__(self, state_bytes: int | None = None) -> None:
        """``state_bytes`` fixes the checkpoint state's size; None models the real engine's."""
        self.state_bytes = state_bytes

    def run(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        params: JobParams,
        options: RunOptions = REPORT_NOTHING,
    ) -> TransferResult:
        """Sleep through the job's iterations, reporting and saving as the real engine does.

        Iterations take a fixed modelled time here, so the time cadence is one in iterations:
        progress every ``progress_seconds`` worth, state every ``checkpoint_seconds`` worth or
        every ``checkpoint_every``, always at the end; True from a progress report saves the
        state at once (a worker handing its job back). ``memory_limit_mib`` is not checked:
        this engine holds no device memory.
        """
        params.check_style_count(len(styles))
        fingerprint = _fingerprint(params, len(styles))
        resume_from, on_checkpoint = options.resume_from, options.on_checkpoint
        iteration, elapsed = _read_state(resume_from, fingerprint) if resume_from else (0, 0.0)
        job = self._start(content, params, fingerprint, elapsed)
        plan = _Plan.of(job, options, iteration)
        start = iteration
        while iteration < job.total:
            due, save = plan.next(iteration) if on_checkpoint else (job.total, True)
            time.sleep((due - iteration) * job.per_iteration)
            iteration = due
            if on_checkpoint is not None:
                plan.reported(iteration, _report(on_checkpoint, job, iteration, save))
        height, width = job.image.shape[:2]
        return TransferResult(
            job.image,
            job.total,
            job.elapsed(),
            _losses(job.total),
            (width, height),
            job.weights,
            evaluations=job.total - start,
        )

    def _start(
        self, content: Image.Image, params: JobParams, fingerprint: str, elapsed: float
    ) -> _Run:
        """Fix the output image, the modelled times and sizes, and the clock (resumed runs too)."""
        width, height = working_size(content.size, params.size, name="content image")
        image = np.asarray(
            content.convert("RGB").resize((width, height), Image.Resampling.LANCZOS), np.uint8
        )
        state_bytes = self.state_bytes
        if state_bytes is None:
            state_bytes = real_state_bytes(params.optimizer, width, height)
        return _Run(
            params,
            fingerprint,
            image,
            params.iterations,
            iteration_seconds(params.optimizer, width, height),
            state_bytes,
            _weights(params),
            time.monotonic() - elapsed,
        )


@dataclass
class _Plan:
    """When the next progress report and state save fall, counted in iterations."""

    total: int
    progress: int | None  # iterations between progress reports
    by_time: int | None  # iterations between state saves by time
    every: int | None  # state at every multiple of this (checkpoint_every)
    last_progress: int
    last_state: int

    @classmethod
    def of(cls, job: _Run, options: RunOptions, iteration: int) -> _Plan:
        def span(seconds: float | None) -> int | None:
            return None if seconds is None else max(1, math.ceil(seconds / job.per_iteration))

        return cls(
            job.total,
            span(options.progress_seconds),
            span(options.checkpoint_seconds),
            options.checkpoint_every,
            iteration,
            iteration,
        )

    def next(self, iteration: int) -> tuple[int, bool]:
        """The next iteration to report at, and whether the state is due there."""
        state = [self.total]
        if self.every is not None:
            state.append((iteration // self.every + 1) * self.every)
        if self.by_time is not None:
            state.append(self.last_state + self.by_time)
        save_at = min(state)
        report_at = save_at if self.progress is None else self.last_progress + self.progress
        return min(save_at, report_at), save_at <= report_at

    def reported(self, iteration: int, saved: bool) -> None:
        self.last_progress = iteration
        if saved:
            self.last_state = iteration


def _report(
    on_checkpoint: Callable[[Checkpoint], bool | None], job: _Run, iteration: int, save: bool
) -> bool:
    """Report progress (saving state if due, or if the answer asks for it); True if saved."""
    if not save and on_checkpoint(_checkpoint(job, iteration, with_state=False)):
        save = True
    if save:
        on_checkpoint(_checkpoint(job, iteration, with_state=True))
    return save


def _checkpoint(job: _Run, iteration: int, with_state: bool) -> Checkpoint:
    return Checkpoint(
        iteration=iteration,
        total=job.total,
        losses=_losses(iteration),
        elapsed_seconds=job.elapsed(),
        image=job.image,
        state=_dump_state(job, iteration) if with_state else None,
        weights=job.weights,
    )


def _losses(iteration: int) -> Losses:
    """Made-up losses that fall like an optimization's, so progress displays look alive."""
    total = 1e9 / (1.0 + iteration / 10.0)
    return Losses(content=0.2 * total, style=0.75 * total, tv=0.05 * total, total=total)


def _weights(params: JobParams) -> LossWeights:
    """The job's raw weights and equal layer weights: recorded on the job, never used here."""
    content, style, tv = params.raw_weights()
    return LossWeights(
        style_strength=params.strength if params.uses_strength else None,
        content_weight=content,
        style_weight=style,
        tv_weight=tv,
        content_layer_weights=params.content_layer_weights
        or tuple(1 / len(params.content_layers) for _ in params.content_layers),
        style_layer_weights=params.style_layer_weights
        or tuple(1 / len(params.style_layers) for _ in params.style_layers),
    )


# -- state: a header the run resumes from, padded to the modelled size ----------------------
def _fingerprint(params: JobParams, style_count: int) -> str:
    shape = params.model_dump_json(exclude={"checkpoint_every"})
    return hashlib.sha256(f"{style_count}:{shape}".encode()).hexdigest()


def _dump_state(job: _Run, iteration: int) -> bytes:
    header = json.dumps(
        {"fingerprint": job.fingerprint, "iteration": iteration, "elapsed": job.elapsed()}
    ).encode()
    head = STATE_MAGIC + header + b"\n"
    return _padded(head, job.state_bytes)


@cache
def _noise_block() -> bytes:
    """1 MiB of incompressible bytes, like float32 optimizer state; made once per process."""
    return np.random.default_rng(0).bytes(NOISE_BLOCK_BYTES)


def _padded(head: bytes, size: int) -> bytes:
    """head followed by noise up to size bytes in all, in one copy (a 52 MB state: ~20 ms)."""
    missing = max(0, size - len(head))
    block = memoryview(_noise_block())
    whole, rest = divmod(missing, len(block))
    return b"".join([head, *([block] * whole), block[:rest]])


def _read_state(data: bytes, fingerprint: str) -> tuple[int, float]:
    """(iteration, elapsed seconds) from ``_dump_state``; EngineFailure if not this job's."""
    end = data.find(b"\n", len(STATE_MAGIC))
    if not data.startswith(STATE_MAGIC) or end < 0:
        raise EngineFailure("checkpoint state was not written by the simulated engine")
    header = json.loads(data[len(STATE_MAGIC) : end])
    if header["fingerprint"] != fingerprint:
        raise EngineFailure("checkpoint state belongs to a job with different parameters or images")
    return int(header["iteration"]), float(header["elapsed"])
