"""Which arithmetic the VGG19 convolutions run in: float32, or bfloat16 where it is faster.

bfloat16 has float32's range and 8 bits of mantissa. On a CPU with AMX or a GPU with tensor
cores its matrix units are several times faster than float32's; on a CPU without them (an AMD
EPYC with only AVX512-BF16) it can be slower. So ``auto`` does not read CPU flags: it times a
few loss-and-gradient evaluations of the network in each precision at a working size and takes
bfloat16 only when it is faster by ``AUTO_MARGIN``. Either way only the network runs in it:
the image, the features once they leave the network, the losses, the optimizer's state and
every sum over them stay float32 (``model.py``), so the precision is an operator's setting of
speed, never a job's parameter; the quality gate in ``benchmarks/quality.py`` checks that.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

import keras
import numpy as np

log = logging.getLogger(__name__)

Precision = Literal["float32", "bfloat16"]
PrecisionSetting = Literal["auto", "float32", "bfloat16"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
# bfloat16 must take at most 1/1.25 of float32's time: a 10 % gain on a loaded machine is noise,
# and float32 is the precision every figure of this project was measured in.
AUTO_MARGIN = 1.25
AUTO_SIZE = (192, 256)  # height, width: a 256 px job, the smallest size users ask for
AUTO_EVALUATIONS = 3  # per precision, alternated, after one warm-up (compiling) call each


class FeatureExtractors(Protocol):
    """``model.FeatureExtractors``, which imports this module's types."""

    def get(self, pooling: str, layers: Sequence[str], precision: Precision = ...) -> Any: ...


@dataclass(frozen=True)
class PrecisionChoice:
    """What the engine runs in and why: the setting, and ``auto``'s timings (else None)."""

    precision: Precision
    setting: PrecisionSetting
    float32_seconds: float | None = None  # median seconds per evaluation at AUTO_SIZE
    bfloat16_seconds: float | None = None

    @property
    def speedup(self) -> float | None:
        """float32's time over bfloat16's (above 1: bfloat16 is faster)."""
        if self.float32_seconds is None or not self.bfloat16_seconds:
            return None
        return self.float32_seconds / self.bfloat16_seconds

    def describe(self) -> str:
        """One log line: the precision and, for ``auto``, the measurement behind it."""
        if self.speedup is None:
            return f"precision {self.precision} (set, not measured)"
        height, width = AUTO_SIZE
        return (
            f"precision {self.precision} (auto: {self.float32_seconds:.3f} s "
            f"float32, {self.bfloat16_seconds:.3f} s bfloat16 per evaluation at {width}x{height}, "
            f"bfloat16 {self.speedup:.2f}x as fast; it needs {AUTO_MARGIN:.2f}x)"
        )


def choose_precision(setting: PrecisionSetting, extractors: FeatureExtractors) -> PrecisionChoice:
    """Resolve ``setting``: a fixed precision as it is, ``auto`` by timing both (logged)."""
    if setting != "auto":
        choice = PrecisionChoice(setting, setting)
    else:
        f32, bf16 = time_evaluations(extractors)
        faster = f32 >= AUTO_MARGIN * bf16
        choice = PrecisionChoice("bfloat16" if faster else "float32", "auto", f32, bf16)
    log.info("%s", choice.describe())
    return choice


def time_evaluations(
    extractors: FeatureExtractors,
    size: tuple[int, int] = AUTO_SIZE,
    evaluations: int = AUTO_EVALUATIONS,
) -> tuple[float, float]:
    """Median seconds of one loss-and-gradient evaluation in float32 and in bfloat16.

    The default job's layers, max pooling, a float32 loss over every output (as the real loss
    takes them), the gradient with respect to the image: what one optimizer evaluation costs.
    Calls alternate between the precisions so that a machine's changing load hits both alike.
    """
    from contract.params import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS

    layers = DEFAULT_CONTENT_LAYERS + DEFAULT_STYLE_LAYERS
    image = keras.ops.convert_to_tensor(
        np.random.default_rng(0).normal(0, 50, (1, *size, 3)).astype(np.float32)
    )
    steps = {p: evaluation_step(extractors.get("max", layers, p)) for p in PRECISIONS}
    seconds: dict[Precision, list[float]] = {p: [] for p in PRECISIONS}
    for step in steps.values():
        _block(step(image))  # compiles
    for _ in range(evaluations):
        for precision, step in steps.items():
            started = time.perf_counter()
            _block(step(image))
            seconds[precision].append(time.perf_counter() - started)
    return statistics.median(seconds["float32"]), statistics.median(seconds["bfloat16"])


def evaluation_step(extractor: keras.Model) -> Callable[[Any], Any]:
    """A compiled ``image -> (loss, gradient)`` through ``extractor``, float32 outside it."""
    from worker.nst.optimizers.gradients import compile_traced, traced_loss_and_grads

    def loss(image: Any) -> tuple[Any, Any]:
        total = keras.ops.sum(
            keras.ops.stack([keras.ops.mean(keras.ops.square(f)) for f in extractor(image)])
        )
        return total, total

    differentiate = traced_loss_and_grads(loss)
    return compile_traced(lambda image: differentiate(image, ()), False, extractor.weights)


def _block(outputs: tuple[Any, ...]) -> None:
    """Wait for the device: bring the (scalar) loss to the host."""
    float(keras.ops.convert_to_numpy(outputs[0]))
