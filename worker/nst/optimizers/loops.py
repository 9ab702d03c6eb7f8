"""The iteration loop of one scale pass: compiled on the device, or the host reference.

The engine drives a pass through ``IterationLoop.advance(count, ...)``: up to ``count``
iterations per call, as many as fit before the next progress report or checkpoint
(``pacing.py``). On the device (``device_adam.py``, ``device_lbfgs.py``) one call is one compiled
function; the image and the optimizer state stay there and come to the host only for a
preview (``image``) or a checkpoint (``state``). ``HostLoop`` runs ``host_reference.py``'s numpy
optimizers over the compiled loss-and-gradient step, one host round trip per evaluation: the
implementation the device loops are tested against (``StyleTransfer(on_device=False)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import keras
import numpy as np

from contract.errors import EngineFailure
from worker.nst.optimizers.device_adam import CompiledAdam
from worker.nst.optimizers.device_calls import Advance, EvaluationCount
from worker.nst.optimizers.device_lbfgs import CompiledLbfgs
from worker.nst.optimizers.gradients import LossAndGrads, LossFn
from worker.nst.optimizers.host_reference import LBFGS, Adam, Objective, make_optimizer
from worker.nst.optimizers.stopping import Plateau


class IterationLoop(Protocol):
    """One pass's optimization, advanced a call at a time."""

    def advance(self, count: int, plateau: Plateau, may_stop: bool) -> Advance:
        """Run up to ``count`` iterations; stop early where ``plateau`` (extended by this
        call's losses) is reached and ``may_stop``. Raises EngineFailure on a non-finite loss."""
        ...

    def final_loss(self) -> tuple[float, np.ndarray]:
        """The total loss and terms of the current image."""
        ...

    def image(self) -> np.ndarray:
        """The current 1 x H x W x 3 float32 image, on the host."""
        ...

    def state(self) -> dict[str, np.ndarray]:
        """The optimizer's state for a checkpoint (``host_reference.py``'s format)."""
        ...


class LoopStarter(Protocol):
    """What the engine caches per shape: something that starts a pass's loop."""

    warm_count: int  # iterations of a new starter's first call, which compiles

    @property
    def traces(self) -> int:
        """Times it was traced and compiled (0 for the host loops: not counted)."""
        ...

    def start(
        self,
        x: np.ndarray,
        targets: Sequence[Any],
        learning_rate: float,
        state: dict[str, np.ndarray],
        evaluations: EvaluationCount,
    ) -> IterationLoop: ...


def compile_device_loop(
    optimizer: str, loss_fn: LossFn, jit_compile: bool, weights: Sequence[keras.Variable] = ()
) -> LoopStarter:
    """The compiled device loop of ``optimizer`` ("adam" or "lbfgs") for ``loss_fn``, which
    reads the network's ``weights`` (``gradients.compile_traced``)."""
    if optimizer == "adam":
        return CompiledAdam(loss_fn, jit_compile, weights)
    return CompiledLbfgs(loss_fn, jit_compile, weights)


class HostSteps:
    """Starts ``HostLoop``s of ``optimizer`` over one compiled loss-and-gradient step."""

    def __init__(self, step: LossAndGrads, optimizer: str) -> None:
        self._step, self._optimizer = step, optimizer
        self.warm_count = 1 if optimizer == "adam" else 0

    @property
    def traces(self) -> int:
        return 0

    def start(
        self,
        x: np.ndarray,
        targets: Sequence[Any],
        learning_rate: float,
        state: dict[str, np.ndarray],
        evaluations: EvaluationCount,
    ) -> HostLoop:
        optimizer = make_optimizer(self._optimizer, learning_rate)
        optimizer.load_state(state)
        return HostLoop(optimizer, host_objective(self._step, targets, evaluations), x, evaluations)


class HostLoop:
    """``host_reference.py``'s optimizers, a host round trip per evaluation."""

    def __init__(
        self,
        optimizer: Adam | LBFGS,
        objective: Objective,
        x: np.ndarray,
        calls: EvaluationCount,
    ) -> None:
        """``calls`` is the count ``objective`` keeps of its evaluations."""
        self._optimizer, self._objective, self._x, self._calls = optimizer, objective, x, calls

    def advance(self, count: int, plateau: Plateau, may_stop: bool) -> Advance:
        """Run up to ``count`` iterations; raises EngineFailure on a non-finite loss."""
        before, losses, terms = self._calls.count, [], []
        watch = Plateau(plateau.tolerance, plateau.window, plateau.losses)
        stopped = False
        if isinstance(self._optimizer, LBFGS):
            self._optimizer.start(self._x, self._objective)
        for _ in range(count):
            self._x, loss, loss_terms = self._optimizer.step(self._x, self._objective)
            losses.append(loss)
            terms.append(loss_terms)
            watch.add(loss)
            if may_stop and watch.reached():
                stopped = True
                break
        return Advance(
            len(losses),
            self._calls.count - before,
            np.array(losses, np.float32),
            np.array(terms, np.float32).reshape(-1, 3),
            stopped,
        )

    def final_loss(self) -> tuple[float, np.ndarray]:
        optimizer = self._optimizer
        if isinstance(optimizer, LBFGS) and optimizer.loss is not None:
            assert optimizer.terms is not None
            return optimizer.loss, optimizer.terms
        loss, terms, _ = self._objective(self._x)
        return loss, terms

    def image(self) -> np.ndarray:
        return self._x

    def state(self) -> dict[str, np.ndarray]:
        return self._optimizer.state()


def host_objective(
    step: LossAndGrads, targets: Sequence[Any], calls: EvaluationCount | None = None
) -> Objective:
    """Bind a pass's targets to the compiled step, count calls, refuse non-finite losses."""

    def objective(x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        if calls is not None:
            calls.count += 1
        loss, terms, grad = step(x, tuple(targets))
        if not np.isfinite(loss):
            raise EngineFailure(f"the loss became non-finite ({loss}); try smaller weights")
        return loss, terms, grad

    return objective
