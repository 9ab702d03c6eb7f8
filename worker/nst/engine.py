"""``StyleTransfer``: load VGG19 once per process, then run one job at a time.

``run`` optimizes the output image coarse to fine (``params.scales`` passes,
``optimizers/passes.py``), reports as its ``RunOptions`` ask, and can continue from the
``state`` bytes of any checkpoint to the same total as if it had never stopped. The iterations
run on the device, many per compiled call: the update steps are ``optimizers/device_adam.py``
and ``optimizers/device_lbfgs.py``, chosen in ``_loop`` below.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
from PIL import Image

from contract.params import JobParams
from worker.nst import images as img
from worker.nst.balance import loss_weights
from worker.nst.inputs import feature_targets, loss_targets, pass_images, scale_plan
from worker.nst.losses import loss_terms
from worker.nst.memory import check_fits, share_gpus
from worker.nst.model import FeatureExtractors
from worker.nst.optimizers.cadence import Cadence
from worker.nst.optimizers.gradients import (
    LossAndGrads,
    compile_loss_and_grads,
    run_ops_one_at_a_time,
)
from worker.nst.optimizers.loops import HostSteps, LoopStarter, compile_device_loop, host_objective
from worker.nst.optimizers.passes import RunPlan, RunTally, output_image, run_pass
from worker.nst.options import REPORT_NOTHING, RunOptions
from worker.nst.precision import Precision, PrecisionChoice, PrecisionSetting, choose_precision
from worker.nst.results import Checkpoint, Losses, TransferResult
from worker.nst.state import RunState, load_state

__all__ = ["Checkpoint", "Losses", "StyleTransfer", "TransferResult"]
log = logging.getLogger(__name__)


class StyleTransfer:
    """The engine: one instance per process, reused across jobs."""

    def __init__(
        self,
        weights: str,
        *,
        jit_compile: bool = False,
        max_compiled_steps: int = 8,
        shape_bucket: int = 0,
        on_device: bool = True,
        precision: PrecisionSetting = "float32",
    ) -> None:
        """Load VGG19 now ("imagenet" or a .weights.h5 path); WeightsUnavailable if unusable.

        ``jit_compile`` asks TensorFlow for XLA; whether that is faster depends on the machine
        (NST_XLA). The JAX backend always compiles with XLA. At most ``max_compiled_steps``
        compiled functions are kept (one per optimizer, layer set and image shape; scoring has
        its own), least recently used dropped first: each holds its graphs, and users upload
        every aspect ratio there is. ``shape_bucket`` pads the optimized image up to multiples
        of that many pixels so that nearby shapes share them (``inputs.pad_to_bucket``); 0
        optimizes the exact shape. ``on_device`` False runs the optimizers in numpy on the
        host (``loops.HostLoop``), the reference the device loops are tested against.
        ``precision`` is what the convolutions run in (NST_PRECISION, ``precision.py``);
        "auto" times both now and keeps the faster by a clear margin.
        """
        self.reproducible = run_ops_one_at_a_time()
        share_gpus()
        if not self.reproducible:
            log.warning(
                "TensorFlow started before the engine: its ops may overlap, and two runs "
                "of one L-BFGS job may differ slightly (gradients.run_ops_one_at_a_time)"
            )
        self._extractors = FeatureExtractors(weights)
        self.precision_choice: PrecisionChoice = choose_precision(precision, self._extractors)
        self._jit_compile = jit_compile
        self._compiled: OrderedDict[tuple[object, ...], Any] = OrderedDict()
        self._max_compiled = max(1, max_compiled_steps)
        self._bucket = shape_bucket
        self._on_device = on_device

    def run(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        params: JobParams,
        options: RunOptions = REPORT_NOTHING,
    ) -> TransferResult:
        """Stylize ``content``; exceptions raised by ``options.on_checkpoint`` propagate unchanged.

        Reports and state go out as ``options`` asks (``RunOptions``). A job that would not fit
        in memory (``memory.check_fits``; ``options.memory_limit_mib`` caps it) raises
        InsufficientMemory before anything runs.
        """
        params.check_style_count(len(styles))
        keras.utils.set_random_seed(params.seed)
        state = RunState(scale_index=0, iteration=0, elapsed=0.0, image=np.empty(0))
        if options.resume_from:
            state = load_state(options.resume_from, params, len(styles), self._bucket)
        layers = params.content_layers + params.style_layers
        extractor = self._extractors.get(params.pooling, layers, self.precision)
        full = pass_images(content, styles, params, params.size, self._bucket)
        height, width = full.content_target.shape[:2]
        largest_style = max(style.shape[0] * style.shape[1] for style in full.styles)
        check_fits(
            height * width, params.size, options.memory_limit_mib, params.optimizer, largest_style
        )
        targets = feature_targets(extractor, full, params)
        plan = RunPlan(
            content=content,
            styles=styles,
            params=params,
            scales=scale_plan(params),
            on_checkpoint=options.on_checkpoint,
            extractor=extractor,
            loop_for=functools.partial(self._loop, extractor, params),
            weights=loss_weights(params, targets, img.preprocess_image(full.content_target)),
            full_targets=targets,
            bucket=self._bucket,
        )
        tally = RunTally(
            started=time.monotonic() - state.elapsed,
            cadence=Cadence(
                options.progress_seconds, options.checkpoint_seconds, options.checkpoint_every
            ),
            reported=state.iteration > 0,  # a resumed run has reported progress before
        )
        for index in range(state.scale_index, len(plan.scales)):
            state, loop, images = run_pass(plan, tally, index, state)
        loss, terms = loop.final_loss()
        image = output_image(state.image, images, params)
        losses = Losses.from_terms(loss, terms)
        return TransferResult(
            image,
            state.iteration,
            tally.elapsed(),
            losses,
            _size(image),
            plan.weights,
            tally.evaluations.count,
            iterations_saved=plan.total - state.iteration,
            compile_seconds=tally.compile_seconds,
            precision=self.precision,
        )

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
            params.pooling, params.content_layers + params.style_layers, self.precision
        )
        targets = feature_targets(extractor, images, params)
        weights = loss_weights(params, targets, img.preprocess_image(images.content_target))
        objective = host_objective(
            self._step(extractor, params, images.content_target.shape[:2])[0],
            loss_targets(targets, weights, params, params.size),
        )
        loss, terms, _ = objective(img.preprocess_image(image))
        return Losses.from_terms(loss, terms)

    def _step(
        self, extractor: keras.Model, params: JobParams, shape: tuple[int, ...]
    ) -> tuple[LossAndGrads, bool]:
        """The compiled loss-and-gradient step for this layer set and shape, and whether it is
        new (its first call compiles): for scoring, and for the host loops."""
        loss_fn = functools.partial(loss_terms, extractor)
        return self._cached(
            ("step", params, shape),
            lambda: compile_loss_and_grads(loss_fn, self._jit_compile, extractor.weights),
        )

    def _loop(
        self, extractor: keras.Model, params: JobParams, shape: tuple[int, ...]
    ) -> tuple[LoopStarter, bool]:
        """What starts this job's optimizer loop for a pass of this shape, and whether it is new."""
        if not self._on_device:
            step, fresh = self._step(extractor, params, shape)
            return HostSteps(step, params.optimizer), fresh
        loss_fn = functools.partial(loss_terms, extractor)
        return self._cached(
            (params.optimizer, params, shape),
            lambda: compile_device_loop(
                params.optimizer, loss_fn, self._jit_compile, extractor.weights
            ),
        )

    def _cached(
        self, what: tuple[str, JobParams, tuple[int, ...]], build: Callable[[], Any]
    ) -> tuple[Any, bool]:
        """A compiled function from the cache, or built now; and whether it was built now.

        Keyed by what it is, the layer set and the image shape; beyond ``max_compiled_steps``
        the least recently used is dropped, and with it the graphs it compiled.
        """
        kind, params, shape = what
        key = (
            kind,
            params.pooling,
            params.content_layers,
            params.style_layers,
            self._jit_compile,
            self.precision,
            tuple(shape),
        )
        compiled = self._compiled.pop(key, None)
        fresh = compiled is None
        if compiled is None:
            compiled = build()
        self._compiled[key] = compiled
        while len(self._compiled) > self._max_compiled:
            self._compiled.popitem(last=False)
        return compiled, fresh

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
    def precision(self) -> Precision:
        """What the convolutions run in: the setting, or what ``auto`` chose at start."""
        return self.precision_choice.precision

    @property
    def compiled_steps(self) -> int:
        """How many compiled functions (loops and steps) this engine holds now."""
        return len(self._compiled)


def _size(image: np.ndarray) -> tuple[int, int]:
    return int(image.shape[1]), int(image.shape[0])
