"""Adam on the device: one compiled call runs up to K iterations; the moments never leave it.

The same steps as ``host_reference.Adam`` (its constants, its order of operations in float32). The
bias corrections ``1 - beta^t`` are computed on the host in float64, as numpy computes them
there, and handed in as a small table per call: float32 powers of 0.999 drift from the float64
ones by ~1e-5 after a thousand steps. The step count ``t`` stays on the host with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import keras
import numpy as np
from keras import ops

from contract.params import EARLY_STOP_WINDOW
from worker.nst.optimizers.device_calls import (
    MAX_COUNT,
    Advance,
    CallTally,
    CompiledLoop,
    EarlyStop,
    EvaluationCount,
    advance_of,
    call_inputs,
    completed,
    evaluated,
    running,
    start_tally,
)
from worker.nst.optimizers.gradients import LossFn, traced_loss_and_grads
from worker.nst.optimizers.host_reference import ADAM_BETA1, ADAM_BETA2, ADAM_EPS
from worker.nst.optimizers.stopping import Plateau

Tensor = Any


class AdamState(NamedTuple):
    """The image and Adam's moments, on the device."""

    x: Tensor  # 1 x H x W x 3 float32
    m: Tensor  # first moment, shaped like x
    v: Tensor  # second moment


def adam_iterations(loss_fn: LossFn) -> Any:
    """The traceable loop: ``(state, count, learning_rate, corrections, recent, held, rule,
    args) -> (state, tally)``; ``corrections[i]`` is ``(1 - beta1^t, 1 - beta2^t)`` of the
    call's i-th iteration."""
    loss_and_grads = traced_loss_and_grads(loss_fn)
    beta1, beta2 = np.float32(ADAM_BETA1), np.float32(ADAM_BETA2)
    rest1, rest2 = np.float32(1 - ADAM_BETA1), np.float32(1 - ADAM_BETA2)
    eps = np.float32(ADAM_EPS)

    def iteration(
        state: AdamState,
        tally: CallTally,
        rate: Tensor,
        corrections: Tensor,
        rule: EarlyStop,
        args: Sequence[Any],
    ) -> tuple[AdamState, CallTally]:
        total, terms, grad = loss_and_grads(state.x, args)
        tally = evaluated(tally, total)
        m = state.m * beta1 + grad * rest1  # tensors first: numpy scalars must not lead
        v = state.v * beta2 + ops.square(grad) * rest2
        correction = ops.take(corrections, tally.done, axis=0)
        m_hat, v_hat = m / correction[0], v / correction[1]
        x = state.x - m_hat * rate / (ops.sqrt(v_hat) + eps)
        return AdamState(x, m, v), completed(tally, total, terms, rule)

    def run(
        state: AdamState,
        count: Tensor,
        rate: Tensor,
        corrections: Tensor,
        recent: Tensor,
        held: Tensor,
        rule: EarlyStop,
        args: Sequence[Any],
    ) -> tuple[AdamState, CallTally]:
        state, tally = ops.while_loop(
            lambda state, tally: running(tally, count),
            lambda state, tally: iteration(state, tally, rate, corrections, rule, args),
            (state, start_tally(recent, held)),
        )
        return state, tally

    return run


class CompiledAdam(CompiledLoop):
    """The compiled Adam loop for one image shape and layer set; ``start`` one per pass."""

    warm_count = 1  # the first call's iterations: compiling it, then one evaluation

    def __init__(
        self, loss_fn: LossFn, jit_compile: bool, weights: Sequence[keras.Variable] = ()
    ) -> None:
        super().__init__(adam_iterations(loss_fn), jit_compile, weights)

    def start(
        self,
        x: np.ndarray,
        targets: Sequence[Any],
        learning_rate: float,
        state: dict[str, np.ndarray],
        evaluations: EvaluationCount,
    ) -> DeviceAdam:
        return DeviceAdam(self._call, x, targets, learning_rate, state, evaluations)


class DeviceAdam:
    """One pass of Adam on the device, from a start image or a checkpoint's state."""

    def __init__(
        self,
        call: Any,
        x: np.ndarray,
        targets: Sequence[Any],
        learning_rate: float,
        state: dict[str, np.ndarray],
        evaluations: EvaluationCount,
    ) -> None:
        self._call, self._targets, self._evaluations = call, tuple(targets), evaluations
        self._rate = ops.convert_to_tensor(np.float32(learning_rate))
        self.t = int(state.get("t", 0))
        zeros = np.zeros_like(x)
        self._state = AdamState(
            *(
                ops.convert_to_tensor(np.asarray(a, np.float32))
                for a in (x, state.get("m", zeros), state.get("v", zeros))
            )
        )

    def advance(self, count: int, plateau: Plateau, may_stop: bool) -> Advance:
        """Run up to ``count`` iterations (fewer at a plateau); EngineFailure if non-finite."""
        state, advance = self._run(count, plateau, may_stop)
        self._state = state
        self.t += advance.iterations
        return advance

    def _run(self, count: int, plateau: Plateau, may_stop: bool) -> tuple[AdamState, Advance]:
        assert 0 <= count <= MAX_COUNT
        steps = np.arange(self.t + 1, self.t + 1 + MAX_COUNT, dtype=np.float64)
        corrections = np.stack([1 - ADAM_BETA1**steps, 1 - ADAM_BETA2**steps], axis=1)
        recent, held, rule = call_inputs(plateau, may_stop)
        state, tally = self._call(
            self._state,
            ops.convert_to_tensor(count, "int32"),
            self._rate,
            ops.convert_to_tensor(corrections.astype(np.float32)),
            recent,
            held,
            rule,
            self._targets,
        )
        return state, advance_of(tally, self._evaluations)

    def final_loss(self) -> tuple[float, np.ndarray]:
        """The loss of the current image: one more evaluation, whose step is thrown away."""
        _, advance = self._run(1, Plateau(0.0, EARLY_STOP_WINDOW), False)  # same shapes: no retrace
        return float(advance.losses[0]), advance.terms[0]

    def image(self) -> np.ndarray:
        return np.asarray(self._state.x)

    def state(self) -> dict[str, np.ndarray]:
        """The moments and step count, as ``host_reference.Adam.state`` has them."""
        if self.t == 0:
            return {"t": np.array(0)}
        return {
            "t": np.array(self.t),
            "m": np.asarray(self._state.m),
            "v": np.asarray(self._state.v),
        }
