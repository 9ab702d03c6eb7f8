"""L-BFGS on the device: one compiled call runs up to K iterations; the history never leaves it.

The same method as ``host_reference.LBFGS``: the two-loop recursion over the last ``LBFGS_HISTORY``
curvature pairs (here a ring buffer of fixed size), scaled steepest descent without history,
history forgotten when its direction does not descend, a backtracking Armijo line search of at
most ``LBFGS_MAX_TRIES`` evaluations whose last try is accepted anyway, and pairs kept only when
``s·y > CURVATURE |s| |y|``. One loop trip is one loss-and-gradient evaluation: the start
point's, or one line-search try; an iteration ends when a try is accepted.

float32 throughout. The host redid an overflowing dot product in float64 (raw style weights
reach 1e12); here the gradient is instead divided by a power of two near the first loss, kept
for the pass (``exponent``). L-BFGS's steps do not change when the objective is scaled, and a
power-of-two scale is exact in floating point, so the iterates are those of the unscaled
float32 method wherever that one does not overflow. Checkpoints hold unscaled values in
``host_reference.LBFGS``'s format, plus ``sy`` and ``exponent`` so that a resumed run repeats the
uninterrupted one's arithmetic exactly.
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
from worker.nst.optimizers.gradients import LossFn, traced_loss_and_grads, write_row
from worker.nst.optimizers.host_reference import (
    ARMIJO,
    CURVATURE,
    LBFGS_FIRST_STEP,
    LBFGS_HISTORY,
    LBFGS_MAX_TRIES,
)
from worker.nst.optimizers.stopping import Plateau

Tensor = Any
EXPONENTS = 100  # the gradient's scale is 2^e for |e| <= EXPONENTS
POWERS = (2.0 ** np.arange(-EXPONENTS, EXPONENTS + 1)).astype(np.float32)  # exact


class LbfgsState(NamedTuple):
    """Where the method stands, on the device; ``grad``, ``y`` and ``sy`` are divided by
    ``2^exponent``."""

    x: Tensor  # 1 x H x W x 3 float32 image
    loss: Tensor  # float32 total loss at x
    terms: Tensor  # its 3 terms
    grad: Tensor  # gradient at x, shaped like x
    exponent: Tensor  # int32
    ready: Tensor  # bool: loss, terms and grad are x's (the start point has been evaluated)
    s: Tensor  # LBFGS_HISTORY x pixels*3: image changes of the kept pairs (a ring)
    y: Tensor  # LBFGS_HISTORY x pixels*3: their gradient changes
    sy: Tensor  # LBFGS_HISTORY: s·y of each pair
    count: Tensor  # int32 pairs held
    head: Tensor  # int32 slot of the next pair; the newest is head - 1


class Trial(NamedTuple):
    """The line search of the iteration under way."""

    direction: Tensor  # shaped like x
    slope: Tensor  # gradient · direction (scaled), negative
    step: Tensor  # float32: 1, then halved per rejected try
    tries: Tensor  # int32 evaluations of this iteration so far


def _dot(a: Tensor, b: Tensor) -> Tensor:
    return ops.sum(a * b)


def _flat(t: Tensor) -> Tensor:
    return ops.reshape(t, (-1,))


def _steepest(g: Tensor) -> Tensor:
    """Scaled steepest descent: the largest pixel change is ``LBFGS_FIRST_STEP``."""
    return -g * (LBFGS_FIRST_STEP / ops.maximum(ops.max(ops.abs(g)), 1e-12))


def _two_loop(g: Tensor, st: LbfgsState) -> Tensor:
    """``-H g`` by the two-loop recursion over the ``count`` pairs, newest first."""
    index = ops.arange(LBFGS_HISTORY)

    def slot(i: Tensor) -> Tensor:
        return (st.head - 1 - i) % LBFGS_HISTORY

    def newest_first(i: Tensor, carry: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        q, alphas = carry
        k = slot(i)
        alpha = _dot(ops.take(st.s, k, axis=0), q) / ops.take(st.sy, k)
        return q - ops.take(st.y, k, axis=0) * alpha, ops.where(index == i, alpha, alphas)

    q, alphas = ops.fori_loop(0, st.count, newest_first, (g, ops.zeros((LBFGS_HISTORY,))))
    newest = ops.take(st.y, slot(0), axis=0)
    q = q * (ops.take(st.sy, slot(0)) / _dot(newest, newest))

    def oldest_first(j: Tensor, q: Tensor) -> Tensor:
        i = st.count - 1 - j
        k = slot(i)
        beta = _dot(ops.take(st.y, k, axis=0), q) / ops.take(st.sy, k)
        return q + ops.take(st.s, k, axis=0) * (ops.take(alphas, i) - beta)

    return -ops.fori_loop(0, st.count, oldest_first, q)


def _plan(st: LbfgsState) -> tuple[LbfgsState, Trial]:
    """The iteration's direction and slope; history that does not descend is forgotten."""
    g = _flat(st.grad)
    direction = ops.cond(st.count > 0, lambda: _two_loop(g, st), lambda: _steepest(g))
    slope = _dot(g, direction)
    forget = slope >= 0
    direction = ops.where(forget, _steepest(g), direction)
    slope = ops.where(forget, _dot(g, direction), slope)
    none = ops.zeros_like(st.count)
    st = st._replace(count=ops.where(forget, none, st.count), head=ops.where(forget, none, st.head))
    return st, _trial(ops.reshape(direction, ops.shape(st.x)), slope)


def _trial(direction: Tensor, slope: Tensor) -> Trial:
    """A line search that has not tried anything yet (step 1)."""
    return Trial(
        direction, slope, ops.convert_to_tensor(1.0, "float32"), ops.convert_to_tensor(0, "int32")
    )


def _remember(st: LbfgsState, s: Tensor, y: Tensor) -> LbfgsState:
    """Keep the pair if it is positive (keeps H positive definite), dropping the oldest."""
    sy = _dot(s, y)
    keep = sy > CURVATURE * (ops.sqrt(_dot(s, s)) * ops.sqrt(_dot(y, y)))

    def insert() -> LbfgsState:
        return st._replace(
            s=write_row(st.s, st.head, s),
            y=write_row(st.y, st.head, y),
            sy=ops.where(ops.arange(LBFGS_HISTORY) == st.head, sy, st.sy),
            head=(st.head + 1) % LBFGS_HISTORY,
            count=ops.minimum(st.count + 1, LBFGS_HISTORY),
        )

    return ops.cond(keep, insert, lambda: st)


def _exponent(loss: Tensor) -> Tensor:
    """The power of two nearest below ``|loss|`` (0 for 0 or non-finite), as an int32."""
    size = ops.abs(loss)
    usable = ops.isfinite(size) & (size > 0)
    e = ops.floor(ops.log2(ops.where(usable, size, 1.0)))
    return ops.cast(ops.clip(e, -EXPONENTS, EXPONENTS), "int32")


def lbfgs_iterations(loss_fn: LossFn) -> Any:
    """The traceable loop: ``(state, count, recent, held, rule, args) -> (state, tally)``.

    With a state not ``ready`` the call first evaluates the start point (even for count 0).
    """
    loss_and_grads = traced_loss_and_grads(loss_fn)

    def started(st: LbfgsState, total: Tensor, terms: Tensor, grad: Tensor) -> LbfgsState:
        e = _exponent(total)
        unit = ops.take(ops.convert_to_tensor(POWERS), EXPONENTS - e)
        return st._replace(
            loss=total, terms=terms, grad=grad * unit, exponent=e, ready=ops.ones_like(st.ready)
        )

    def tried(
        st: LbfgsState,
        trial: Trial,
        tally: CallTally,
        point: Tensor,
        evaluation: tuple[Any, ...],
        rule: EarlyStop,
    ) -> tuple[LbfgsState, Trial, CallTally]:
        total, terms, grad = evaluation
        unit = ops.take(ops.convert_to_tensor(POWERS), EXPONENTS - st.exponent)
        tries = trial.tries + 1
        sufficient = total * unit <= st.loss * unit + ARMIJO * trial.step * trial.slope
        accept = sufficient | (tries >= LBFGS_MAX_TRIES)

        def accepted() -> tuple[LbfgsState, Trial, CallTally]:
            scaled = grad * unit
            kept = _remember(st, _flat(point - st.x), _flat(scaled) - _flat(st.grad))
            moved = kept._replace(x=point, loss=total, terms=terms, grad=scaled)
            return moved, trial._replace(tries=tries * 0), completed(tally, total, terms, rule)

        def halved() -> tuple[LbfgsState, Trial, CallTally]:
            return st, trial._replace(step=trial.step * 0.5, tries=tries), tally

        return ops.cond(accept, accepted, halved)

    def trip(
        st: LbfgsState, trial: Trial, tally: CallTally, rule: EarlyStop, args: Sequence[Any]
    ) -> tuple[LbfgsState, Trial, CallTally]:
        st, trial = ops.cond(st.ready & (trial.tries == 0), lambda: _plan(st), lambda: (st, trial))
        point = ops.where(st.ready, st.x + trial.direction * trial.step, st.x)
        evaluation = loss_and_grads(point, args)
        tally = evaluated(tally, evaluation[0])
        return ops.cond(
            st.ready,
            lambda: tried(st, trial, tally, point, evaluation, rule),
            lambda: (started(st, *evaluation), trial, tally),
        )

    def run(
        st: LbfgsState,
        count: Tensor,
        recent: Tensor,
        held: Tensor,
        rule: EarlyStop,
        args: Sequence[Any],
    ) -> tuple[LbfgsState, CallTally]:
        trial = _trial(ops.zeros_like(st.x), ops.convert_to_tensor(0.0, "float32"))
        st, _, tally = ops.while_loop(
            lambda st, trial, tally: (
                ops.isfinite(tally.bad_loss) & (~st.ready | running(tally, count))
            ),
            lambda st, trial, tally: trip(st, trial, tally, rule, args),
            (st, trial, start_tally(recent, held)),
        )
        return st, tally

    return run


class CompiledLbfgs(CompiledLoop):
    """The compiled L-BFGS loop for one image shape and layer set; ``start`` one per pass."""

    warm_count = 0  # the first call compiles and evaluates the start point only

    def __init__(
        self, loss_fn: LossFn, jit_compile: bool, weights: Sequence[keras.Variable] = ()
    ) -> None:
        super().__init__(lbfgs_iterations(loss_fn), jit_compile, weights)

    def start(
        self,
        x: np.ndarray,
        targets: Sequence[Any],
        learning_rate: float,
        state: dict[str, np.ndarray],
        evaluations: EvaluationCount,
    ) -> DeviceLbfgs:
        """``learning_rate`` is Adam's; L-BFGS's step comes from its line search."""
        return DeviceLbfgs(self._call, x, targets, state, evaluations)


class DeviceLbfgs:
    """One pass of L-BFGS on the device, from a start image or a checkpoint's state."""

    def __init__(
        self,
        call: Any,
        x: np.ndarray,
        targets: Sequence[Any],
        state: dict[str, np.ndarray],
        evaluations: EvaluationCount,
    ) -> None:
        self._call, self._targets, self._evaluations = call, tuple(targets), evaluations
        self._state = _device_state(np.asarray(x, np.float32), state)

    def advance(self, count: int, plateau: Plateau, may_stop: bool) -> Advance:
        """Run up to ``count`` iterations (fewer at a plateau); EngineFailure if non-finite."""
        assert 0 <= count <= MAX_COUNT
        recent, held, rule = call_inputs(plateau, may_stop)
        self._state, tally = self._call(
            self._state, ops.convert_to_tensor(count, "int32"), recent, held, rule, self._targets
        )
        return advance_of(tally, self._evaluations)

    def final_loss(self) -> tuple[float, np.ndarray]:
        """The loss at the current image: known already, unless no evaluation was made yet."""
        if not bool(self._state.ready):
            self.advance(0, Plateau(0.0, EARLY_STOP_WINDOW), False)  # same shapes: no retrace
        return float(self._state.loss), np.asarray(self._state.terms)

    def image(self) -> np.ndarray:
        return np.asarray(self._state.x)

    def state(self) -> dict[str, np.ndarray]:
        """``host_reference.LBFGS.state``'s arrays (unscaled), plus ``sy`` and ``exponent``."""
        st = self._state
        if not bool(st.ready):
            return {}
        count, head, exponent = int(st.count), int(st.head), int(st.exponent)
        order = (head - count + np.arange(count)) % LBFGS_HISTORY
        unit = np.float32(2.0**exponent)

        def pairs(buffer: Tensor) -> np.ndarray:
            return np.asarray(ops.take(buffer, ops.convert_to_tensor(order, "int32"), axis=0))

        return {
            "s": pairs(st.s),
            "y": pairs(st.y) * unit,
            "sy": np.asarray(st.sy)[order] * unit,
            "loss": np.array(float(st.loss)),
            "terms": np.asarray(st.terms),
            "grad": np.asarray(st.grad) * unit,
            "exponent": np.array(exponent),
        }


def _device_state(x: np.ndarray, state: dict[str, np.ndarray]) -> LbfgsState:
    """The device state for a start image, or for a checkpoint's (``host_reference.LBFGS``'s
    too)."""
    size = x.size
    s = np.zeros((LBFGS_HISTORY, size), np.float32)
    y, sy = np.zeros_like(s), np.zeros(LBFGS_HISTORY, np.float32)
    loss, terms, grad = np.float32(0), np.zeros(3, np.float32), np.zeros_like(x)
    exponent, count = 0, 0
    if state:
        loss, terms = np.float32(state["loss"]), np.asarray(state["terms"], np.float32)
        exponent = int(state["exponent"]) if "exponent" in state else _host_exponent(float(loss))
        scale = np.float32(2.0**-exponent)
        count = len(state["s"])
        s[:count], y[:count] = state["s"], np.asarray(state["y"], np.float32) * scale
        sy[:count] = (
            np.asarray(state["sy"], np.float32) * scale
            if "sy" in state
            else [np.dot(a, b) for a, b in zip(s[:count], y[:count], strict=True)]
        )
        grad = np.asarray(state["grad"], np.float32) * scale
    tensor = ops.convert_to_tensor
    return LbfgsState(
        x=tensor(x),
        loss=tensor(np.float32(loss)),
        terms=tensor(terms),
        grad=tensor(grad),
        exponent=tensor(exponent, "int32"),
        ready=tensor(bool(state)),
        s=tensor(s),
        y=tensor(y),
        sy=tensor(sy),
        count=tensor(count, "int32"),
        head=tensor(count % LBFGS_HISTORY, "int32"),
    )


def _host_exponent(loss: float) -> int:
    """``_exponent`` for a checkpoint written by the host optimizer (any power of two works)."""
    if not np.isfinite(loss) or loss == 0:
        return 0
    return int(np.clip(np.floor(np.log2(abs(loss))), -EXPONENTS, EXPONENTS))
