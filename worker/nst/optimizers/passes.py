"""One job's scale passes: each optimized from its start, a call of K iterations at a time.

A job runs from a ``RunPlan`` (what to run: images, parameters, the passes, where to report)
and keeps a ``RunTally`` (what was done: time, evaluations, compile time, whether progress went
out, where early stop ended it).

Between calls (and only there) the host reports progress and saves state when due
(``Cadence``), decides how many iterations the next call runs (``Pacing``), and keeps early
stop's history (``Plateau``). The image and optimizer state stay wherever the loop keeps them
(``loops.py``) and come to the host only for a report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import keras
import numpy as np
from PIL import Image

from contract.jobs import LossWeights
from contract.params import EARLY_STOP_WINDOW, JobParams
from worker.nst import images as img
from worker.nst.inputs import (
    FeatureTargets,
    PassImages,
    ScalePass,
    feature_targets,
    initial_image,
    loss_targets,
    pass_images,
)
from worker.nst.optimizers.cadence import Cadence
from worker.nst.optimizers.device_calls import Advance, EvaluationCount
from worker.nst.optimizers.loops import IterationLoop, LoopStarter
from worker.nst.optimizers.pacing import Pacing
from worker.nst.optimizers.stopping import Plateau
from worker.nst.results import Checkpoint, Losses
from worker.nst.state import RunState, dump_state


@dataclass(frozen=True)
class RunPlan:
    """What one job runs through its scale passes: fixed from its first pass to its last."""

    content: Image.Image
    styles: Sequence[Image.Image]
    params: JobParams
    scales: list[ScalePass]  # coarse to fine (``inputs.scale_plan``)
    on_checkpoint: Callable[[Checkpoint], bool | None] | None
    extractor: keras.Model
    loop_for: Callable[[tuple[int, ...]], tuple[LoopStarter, bool]]  # per shape; is it new
    weights: LossWeights  # from style_strength (balance.py) or the job's raw weights
    full_targets: FeatureTargets  # the last pass's, computed once for the weights
    bucket: int  # pad to multiples of this (0: exact shapes)

    @property
    def total(self) -> int:
        return sum(scale.iterations for scale in self.scales)


@dataclass
class RunTally:
    """What one job has done so far, across its passes (a resumed run counts from its resume)."""

    started: float  # monotonic time the run would have started had it never stopped
    cadence: Cadence  # when progress and state fell due last
    evaluations: EvaluationCount = field(default_factory=EvaluationCount)  # this process's
    reported: bool = False  # a progress update went out (before a resume too)
    stopped_at: int = 0  # early stop's iteration, or 0
    compile_seconds: float = 0.0  # first calls of new loops

    def elapsed(self) -> float:
        return time.monotonic() - self.started


@dataclass
class _Pass:
    """One pass under way: its loop, images, early stop's window and where it stands."""

    index: int
    loop: IterationLoop
    images: PassImages
    plateau: Plateau
    iteration: int
    end: int


def run_pass(
    plan: RunPlan, tally: RunTally, index: int, state: RunState
) -> tuple[RunState, IterationLoop, PassImages]:
    """Optimize one scale from ``state`` to the pass's last iteration, checkpointing on the way."""
    scale, warm_count = _start(plan, tally, index, state)
    pacing = Pacing()
    if warm_count is not None:  # a new loop: its first call compiles; time it, little else
        started = time.monotonic()
        advance = _advance(plan, tally, scale, min(warm_count, scale.end - scale.iteration))
        tally.compile_seconds += time.monotonic() - started
        if _after(plan, tally, scale, advance):
            return _finished(tally, scale)
    while scale.iteration < scale.end:
        now = time.monotonic()
        cadence = tally.cadence if plan.on_checkpoint else None
        count = pacing.count(cadence, scale.iteration, scale.end, now)
        advance = _advance(plan, tally, scale, count)
        pacing.observe(time.monotonic() - now, advance.iterations)
        if _after(plan, tally, scale, advance):
            break
    return _finished(tally, scale)


def _start(plan: RunPlan, tally: RunTally, index: int, state: RunState) -> tuple[_Pass, int | None]:
    """Images, targets, loop and early stop's window of pass ``index``, continuing ``state``;
    and if the loop is new (not compiled yet), the iterations its first call should run."""
    params = plan.params
    size = plan.scales[index].size
    images = pass_images(plan.content, plan.styles, params, size, plan.bucket)
    x = _starting_image(state, images, params)
    targets = (
        plan.full_targets
        if size == params.size
        else feature_targets(plan.extractor, images, params)
    )
    starter, fresh = plan.loop_for(images.content_target.shape[:2])
    resuming = index == state.scale_index
    loop = starter.start(
        x,
        loss_targets(targets, plan.weights, params, size),
        params.learning_rate,
        state.optimizer if resuming else {},
        tally.evaluations,
    )
    final = index == len(plan.scales) - 1  # early stop watches the finest pass only
    plateau = Plateau(
        params.early_stop if final else 0.0,
        EARLY_STOP_WINDOW,
        list(state.loss_history) if resuming else [],
    )
    end = sum(scale.iterations for scale in plan.scales[: index + 1])
    return _Pass(index, loop, images, plateau, state.iteration, end), (
        starter.warm_count if fresh else None
    )


def _advance(plan: RunPlan, tally: RunTally, scale: _Pass, count: int) -> Advance:
    """One call; early stop may act once the user has seen progress (or nobody listens)."""
    return scale.loop.advance(count, scale.plateau, tally.reported or not plan.on_checkpoint)


def _after(plan: RunPlan, tally: RunTally, scale: _Pass, advance: Advance) -> bool:
    """Account for a call's iterations and report if due; True when early stop ends the run."""
    if advance.iterations == 0:
        return False
    for loss in advance.losses:
        scale.plateau.add(float(loss))
    scale.iteration += advance.iterations
    if plan.on_checkpoint:
        latest = (float(advance.losses[-1]), advance.terms[-1])
        _report(plan, tally, scale, latest, advance.stopped)
    if advance.stopped:
        tally.stopped_at = scale.iteration
    return advance.stopped


def _finished(tally: RunTally, scale: _Pass) -> tuple[RunState, IterationLoop, PassImages]:
    done = tally.stopped_at or scale.end
    state = RunState(
        scale.index + 1, done, tally.elapsed(), scale.loop.image(), picture=scale.images.size
    )
    return state, scale.loop, scale.images


def _report(
    plan: RunPlan, tally: RunTally, scale: _Pass, loss: tuple[float, np.ndarray], stop: bool
) -> None:
    """Report progress or save state when due (``Cadence``), or when the caller asks for it."""
    assert plan.on_checkpoint is not None
    now = time.monotonic()
    save = stop or tally.cadence.state_due(scale.iteration, plan.total, now)
    if not save and not tally.cadence.progress_due(now):
        return
    state = RunState(
        scale.index,
        scale.iteration,
        tally.elapsed(),
        scale.loop.image(),
        loss_history=scale.plateau.state(),
        picture=scale.images.size,
    )
    if not save and plan.on_checkpoint(
        checkpoint(state, plan, tally, *loss, scale.images, with_state=False)
    ):
        save = True  # e.g. a worker shutting down: save the state now, then hand the job back
    if save:
        state.optimizer = scale.loop.state()
        plan.on_checkpoint(checkpoint(state, plan, tally, *loss, scale.images, stopped_early=stop))
    tally.cadence.reported(time.monotonic(), saved=save)
    tally.reported = True


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
    padded = np.pad(
        resized,
        [(0, t - s) for t, s in zip(images.content_target.shape, resized.shape, strict=True)],
        mode="symmetric",
    )
    return np.ascontiguousarray(padded[np.newaxis], dtype=np.float32)


def checkpoint(
    state: RunState,
    plan: RunPlan,
    tally: RunTally,
    loss: float,
    terms: np.ndarray,
    images: PassImages,
    stopped_early: bool = False,
    with_state: bool = True,
) -> Checkpoint:
    """Package progress and resumable state for ``on_checkpoint``."""
    params, styles = plan.params, len(plan.styles)
    return Checkpoint(
        iteration=state.iteration,
        total=plan.total,
        losses=Losses.from_terms(loss, terms),
        elapsed_seconds=state.elapsed,
        image=output_image(state.image, images, params),
        state=dump_state(state, params, styles, plan.bucket) if with_state else None,
        weights=plan.weights,
        stopped_early=stopped_early,
        compile_seconds=tally.compile_seconds,
    )


def output_image(x: np.ndarray, images: PassImages, params: JobParams) -> np.ndarray:
    """Crop any bucket padding, de-process, and in luminance mode put the content's chroma back."""
    height, width = images.size
    rgb = img.deprocess_image(x[:, :height, :width, :])
    if params.preserve_color == "luminance":
        return img.with_content_chroma(rgb, images.content)
    return rgb
