"""``StyleTransfer``: load VGG19 once per process, then run one job at a time.

``run`` optimizes the output image coarse to fine (``params.scales`` passes), calls
``on_checkpoint`` every ``checkpoint_every`` iterations and at the end, and can continue from the
``state`` bytes of any checkpoint to the same total as if it had never stopped.
"""

from __future__ import annotations

import functools
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import keras
import numpy as np
from PIL import Image

from shared.errors import EngineFailure
from shared.jobs import LossWeights
from shared.params import EARLY_STOP_WINDOW, JobParams
from worker.nst import images as img
from worker.nst.balance import loss_weights
from worker.nst.cadence import Cadence
from worker.nst.gradients import LossAndGrads, compile_loss_and_grads
from worker.nst.inputs import (
    FeatureTargets,
    PassImages,
    ScalePass,
    feature_targets,
    initial_image,
    loss_targets,
    pass_images,
    scale_plan,
)
from worker.nst.losses import loss_terms
from worker.nst.memory import check_fits, share_gpus
from worker.nst.model import FeatureExtractors
from worker.nst.optimize import LBFGS, Adam, Objective, make_optimizer
from worker.nst.results import Checkpoint, Losses, TransferResult
from worker.nst.state import RunState, dump_state, load_state
from worker.nst.stopping import Plateau

__all__ = ["Checkpoint", "Losses", "StyleTransfer", "TransferResult"]


class StyleTransfer:
    """The engine: one instance per process, reused across jobs."""

    def __init__(
        self, weights: str, *, jit_compile: bool = False, max_compiled_steps: int = 8,
        shape_bucket: int = 0,
    ) -> None:  # fmt: skip
        """Load VGG19 now ("imagenet" or a .weights.h5 path); WeightsUnavailable if unusable.

        ``jit_compile`` asks TensorFlow for XLA; whether that is faster depends on the machine
        (NST_XLA). The JAX backend always compiles with XLA. At most ``max_compiled_steps``
        compiled steps are kept (one per layer set and image shape), least recently used
        dropped first: each holds its graphs, and users upload every aspect ratio there is.
        ``shape_bucket`` pads the optimized image up to multiples of that many pixels so that
        nearby shapes share a step (``inputs.pad_to_bucket``); 0 optimizes the exact shape.
        """
        share_gpus()
        self._extractors = FeatureExtractors(weights)
        self._jit_compile = jit_compile
        self._steps: OrderedDict[tuple[object, ...], LossAndGrads] = OrderedDict()
        self._max_steps = max(1, max_compiled_steps)
        self._bucket = shape_bucket

    def run(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        params: JobParams,
        *,
        checkpoint_every: int | None = None,
        progress_seconds: float | None = None,
        checkpoint_seconds: float | None = None,
        on_checkpoint: Callable[[Checkpoint], bool | None] | None = None,
        resume_from: bytes | None = None,
        memory_limit_mib: float | None = None,
    ) -> TransferResult:
        """Stylize ``content``; exceptions raised by ``on_checkpoint`` propagate unchanged.

        ``on_checkpoint`` gets progress (with a preview, ``state`` None) every
        ``progress_seconds`` and resumable state every ``checkpoint_seconds`` or every
        ``checkpoint_every`` iterations, always at the end (``cadence.py``); answering True to
        a progress point asks for the state at once (a worker that must hand its job back).
        A job that would not fit in memory (``memory.check_fits``; ``memory_limit_mib`` caps
        it) raises InsufficientMemory before anything runs.
        """
        params.check_style_count(len(styles))
        keras.utils.set_random_seed(params.seed)
        state = RunState(scale_index=0, iteration=0, elapsed=0.0, image=np.empty(0))
        if resume_from:
            state = load_state(resume_from, params, len(styles), self._bucket)
        layers = params.content_layers + params.style_layers
        extractor = self._extractors.get(params.pooling, layers)
        full = pass_images(content, styles, params, params.size, self._bucket)
        height, width = full.content_target.shape[:2]
        check_fits(height * width, params.size, memory_limit_mib)
        targets = feature_targets(extractor, full, params)
        job = _Job(
            content, styles, params, scale_plan(params),
            Cadence(progress_seconds, checkpoint_seconds, checkpoint_every),
            on_checkpoint, time.monotonic() - state.elapsed, extractor,
            functools.partial(self._step, extractor, params),
            loss_weights(params, targets, img.preprocess_image(full.content_target)), targets,
            self._bucket,
        )  # fmt: skip
        job.reported[0] = state.iteration > 0  # a resumed run has reported progress before
        for index in range(state.scale_index, len(job.plan)):
            state, objective, images = _run_pass(job, index, state)
        loss, terms, _ = objective(state.image)
        image = _output_image(state.image, images, params)
        losses = Losses.from_terms(loss, terms)
        return TransferResult(
            image, state.iteration, job.elapsed(), losses, _size(image), job.weights,
            job.evaluations[0], iterations_saved=job.total - state.iteration,
            compile_seconds=job.compile_seconds[0],
        )  # fmt: skip

    def score(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        params: JobParams,
        image: np.ndarray,
    ) -> Losses:
        """Return this job's loss for an H x W x 3 uint8 image of the output size (compare runs)."""
        images = pass_images(content, styles, params, params.size)
        extractor = self._extractors.get(
            params.pooling, params.content_layers + params.style_layers
        )
        targets = feature_targets(extractor, images, params)
        weights = loss_weights(params, targets, img.preprocess_image(images.content_target))
        objective = _objective(
            self._step(extractor, params, images.content_target.shape[:2])[0],
            loss_targets(targets, weights, params, params.size),
        )
        loss, terms, _ = objective(img.preprocess_image(image))
        return Losses.from_terms(loss, terms)

    def _step(
        self, extractor: keras.Model, params: JobParams, shape: tuple[int, ...]
    ) -> tuple[LossAndGrads, bool]:
        """The compiled loss-and-gradient step for this layer set and image shape, and whether
        it is new (its first call compiles).

        Built on first use and kept; beyond ``max_compiled_steps`` the least recently used is
        dropped, and with it the graphs it compiled.
        """
        key = (params.pooling, params.content_layers, params.style_layers, self._jit_compile,
               tuple(shape))  # fmt: skip
        step = self._steps.pop(key, None)
        fresh = step is None
        if step is None:
            step = compile_loss_and_grads(
                functools.partial(loss_terms, extractor), self._jit_compile
            )
        self._steps[key] = step
        while len(self._steps) > self._max_steps:
            self._steps.popitem(last=False)
        return step, fresh

    def warm_up(self, width: int, height: int) -> float:
        """Compile the default job's step for a picture of this size; return the seconds it took.

        A one-iteration job on plain gradients: what is compiled depends on the shape (and
        its bucket), not on the pixels.
        """
        started = time.monotonic()
        ramp = np.linspace(0, 255, width * height * 3, dtype=np.float32).reshape(height, width, 3)
        picture = Image.fromarray(ramp.astype(np.uint8))
        params = JobParams.model_validate({"size": max(width, height), "iterations": 1})
        self.run(picture, [picture], params)
        return time.monotonic() - started

    @property
    def compiled_steps(self) -> int:
        """How many compiled steps this engine holds now."""
        return len(self._steps)


@dataclass(frozen=True)
class _Job:
    """What stays fixed while one job runs through its scale passes."""

    content: Image.Image
    styles: Sequence[Image.Image]
    params: JobParams
    plan: list[ScalePass]
    cadence: Cadence
    on_checkpoint: Callable[[Checkpoint], bool | None] | None
    started: float
    extractor: keras.Model
    step_for: Callable[[tuple[int, ...]], tuple[LossAndGrads, bool]]  # step for a shape, is new
    weights: LossWeights  # from style_strength (balance.py) or the job's raw weights
    full_targets: FeatureTargets  # the last pass's, computed once for the weights
    bucket: int  # pad to multiples of this (0: exact shapes)
    evaluations: list[int] = field(default_factory=lambda: [0])  # one mutable count per job
    reported: list[bool] = field(default_factory=lambda: [False])  # a progress update went out
    stopped_at: list[int] = field(default_factory=lambda: [0])  # early stop's iteration, or 0
    compile_seconds: list[float] = field(default_factory=lambda: [0.0])  # first calls of new steps

    @property
    def total(self) -> int:
        return sum(scale.iterations for scale in self.plan)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def _run_pass(job: _Job, index: int, state: RunState) -> tuple[RunState, Objective, PassImages]:
    """Optimize one scale from ``state`` to the pass's last iteration, checkpointing on the way."""
    size = job.plan[index].size
    images = pass_images(job.content, job.styles, job.params, size, job.bucket)
    x = _starting_image(state, images, job.params)
    targets = (
        job.full_targets if size == job.params.size
        else feature_targets(job.extractor, images, job.params)
    )  # fmt: skip
    step, fresh = job.step_for(images.content_target.shape[:2])
    objective = _objective(
        step, loss_targets(targets, job.weights, job.params, size), job.evaluations,
        job.compile_seconds if fresh else None,
    )  # fmt: skip
    optimizer = make_optimizer(job.params.optimizer, job.params.learning_rate)
    resuming = index == state.scale_index
    optimizer.load_state(state.optimizer if resuming else {})
    plateau = _plateau(job, index, list(state.loss_history) if resuming else [])
    end = sum(scale.iterations for scale in job.plan[: index + 1])
    for iteration in range(state.iteration + 1, end + 1):
        x, loss, terms = optimizer.step(x, objective)
        plateau.add(loss)
        stop = plateau.reached() and (job.reported[0] or not job.on_checkpoint)
        state = RunState(index, iteration, job.elapsed(), x, loss_history=plateau.state(),
                         picture=images.size)  # fmt: skip
        if job.on_checkpoint:
            _report(job, state, optimizer, (loss, terms), images, stop)
        if stop:
            job.stopped_at[0] = iteration
            break
    done = job.stopped_at[0] or end
    return RunState(index + 1, done, job.elapsed(), x, picture=images.size), objective, images


def _report(
    job: _Job, state: RunState, optimizer: Adam | LBFGS, loss: tuple[float, np.ndarray],
    images: PassImages, stop: bool,
) -> None:  # fmt: skip
    """Report progress or save state when due (``Cadence``), or when the caller asks for it."""
    assert job.on_checkpoint is not None
    now = time.monotonic()
    save = stop or job.cadence.state_due(state.iteration, job.total, now)
    if not save and not job.cadence.progress_due(now):
        return
    if not save and job.on_checkpoint(_checkpoint(state, job, *loss, images, with_state=False)):
        save = True  # e.g. a worker shutting down: save the state now, then hand the job back
    if save:
        state.optimizer = optimizer.state()
        job.on_checkpoint(_checkpoint(state, job, *loss, images, stopped_early=stop))
    job.cadence.reported(time.monotonic(), saved=save)
    job.reported[0] = True


def _plateau(job: _Job, index: int, history: Sequence[float]) -> Plateau:
    """Early stop watches the finest pass only: coarse passes are short and only a start."""
    final = index == len(job.plan) - 1
    return Plateau(job.params.early_stop if final else 0.0, EARLY_STOP_WINDOW, history)


def _starting_image(state: RunState, images: PassImages, params: JobParams) -> np.ndarray:
    """Continue from the state's image, upsampled to this pass if needed, or start afresh.

    Upsampling takes the previous pass's picture without its bucket padding to this pass's
    picture size, then pads it as this pass pads its content.
    """
    if state.image.size == 0:
        return initial_image(images, params)
    if state.image.shape[1:3] == images.content_target.shape[:2]:
        return state.image
    previous = state.image[:, : state.picture[0], : state.picture[1], :]
    height, width = images.size
    resized = img.resize_tensor(previous, height, width)[0]
    padded = np.pad(resized, [(0, t - s) for t, s in zip(images.content_target.shape,
                                                         resized.shape, strict=True)],
                    mode="symmetric")  # fmt: skip
    return np.ascontiguousarray(padded[np.newaxis], dtype=np.float32)


def _objective(
    step: LossAndGrads, targets: tuple[object, ...], calls: list[int] | None = None,
    compile_seconds: list[float] | None = None,
) -> Objective:  # fmt: skip
    """Bind a pass's targets to the compiled step, count calls, refuse non-finite losses.

    With ``compile_seconds`` (a new step), the first call's time is added to it: tracing and
    compiling are most of it.
    """
    first = [compile_seconds is not None]

    def objective(x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        if calls is not None:
            calls[0] += 1
        started = time.monotonic()
        loss, terms, grad = step(x, targets)
        if first[0] and compile_seconds is not None:
            compile_seconds[0] += time.monotonic() - started
            first[0] = False
        if not np.isfinite(loss):
            raise EngineFailure(f"the loss became non-finite ({loss}); try smaller weights")
        return loss, terms, grad

    return objective


def _checkpoint(
    state: RunState, job: _Job, loss: float, terms: np.ndarray, images: PassImages,
    stopped_early: bool = False, with_state: bool = True,
) -> Checkpoint:  # fmt: skip
    """Package progress and resumable state for ``on_checkpoint``."""
    return Checkpoint(
        iteration=state.iteration,
        total=job.total,
        losses=Losses.from_terms(loss, terms),
        elapsed_seconds=state.elapsed,
        image=_output_image(state.image, images, job.params),
        state=dump_state(state, job.params, len(job.styles), job.bucket) if with_state else None,
        weights=job.weights,
        stopped_early=stopped_early,
        compile_seconds=job.compile_seconds[0],
    )


def _output_image(x: np.ndarray, images: PassImages, params: JobParams) -> np.ndarray:
    """Crop any bucket padding, de-process, and in luminance mode put the content's chroma back."""
    height, width = images.size
    rgb = img.deprocess_image(x[:, :height, :width, :])
    if params.preserve_color == "luminance":
        return img.with_content_chroma(rgb, images.content)
    return rgb


def _size(image: np.ndarray) -> tuple[int, int]:
    return int(image.shape[1]), int(image.shape[0])
