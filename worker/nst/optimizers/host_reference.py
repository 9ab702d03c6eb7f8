"""The reference: Adam and L-BFGS in numpy on the host, with all their state in plain arrays.

Not what a worker runs: production optimizes on the device (``device_adam.py``,
``device_lbfgs.py``), many iterations per compiled call. These are the same methods written
out by hand (no scipy, no keras optimizer objects), one host round trip per evaluation, that
the device loops are tested against (``StyleTransfer(on_device=False)``, ``loops.HostLoop``);
their constants are the device loops' too, and their ``state()`` is the checkpoint format both
read: a dict of numpy arrays that ``state.py`` serializes, so a resumed run takes exactly the
steps an uninterrupted one would. One ``step`` is one iteration: for L-BFGS one accepted
line-search step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import numpy as np

# image -> (total loss, [content, style, tv] terms, gradient with the image's shape)
Objective = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]
StepOutcome = tuple[np.ndarray, float, np.ndarray]

# The constants of both optimizers, shared with their device versions (device_adam.py,
# device_lbfgs.py) so that the two compute the same steps.
ADAM_BETA1, ADAM_BETA2, ADAM_EPS = 0.9, 0.999, 1e-8
LBFGS_HISTORY = 10  # curvature pairs kept
LBFGS_FIRST_STEP = 1.0  # largest pixel change of a step without history
LBFGS_MAX_TRIES = 20  # loss evaluations of one line search; the last try is accepted anyway
ARMIJO = 1e-4  # sufficient decrease: loss <= loss0 + ARMIJO * step * slope
CURVATURE = 1e-10  # a pair is kept when s·y > CURVATURE * |s| |y|


class Optimizer(Protocol):
    """One optimizer step at a time, with its state as numpy arrays."""

    def step(self, x: np.ndarray, objective: Objective) -> StepOutcome:
        """Return the new image, its loss and terms (Adam: those of the image it started from)."""
        ...

    def state(self) -> dict[str, np.ndarray]:
        """Return everything needed to continue exactly where this optimizer stands."""
        ...


class Adam:
    """Adam (Kingma & Ba) with explicit first/second moments and step count."""

    def __init__(
        self,
        learning_rate: float,
        beta1: float = ADAM_BETA1,
        beta2: float = ADAM_BETA2,
        eps: float = ADAM_EPS,
    ):
        self.learning_rate, self.beta1, self.beta2, self.eps = learning_rate, beta1, beta2, eps
        self.m: np.ndarray | None = None
        self.v: np.ndarray | None = None
        self.t = 0

    def step(self, x: np.ndarray, objective: Objective) -> StepOutcome:
        """Take one Adam step along the gradient at ``x``."""
        loss, terms, grad = objective(x)
        if self.m is None or self.v is None:
            self.m, self.v = np.zeros_like(grad), np.zeros_like(grad)
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1 - self.beta2) * np.square(grad)
        m_hat = self.m / (1 - self.beta1**self.t)
        v_hat = self.v / (1 - self.beta2**self.t)
        update = self.learning_rate * m_hat / (np.sqrt(v_hat) + self.eps)
        return (x - update).astype(np.float32), loss, terms

    def state(self) -> dict[str, np.ndarray]:
        """Return the moments and step count."""
        if self.m is None or self.v is None:
            return {"t": np.array(self.t)}
        return {"t": np.array(self.t), "m": self.m, "v": self.v}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what ``state()`` returned."""
        self.t = int(state.get("t", 0))
        self.m, self.v = state.get("m"), state.get("v")


class LBFGS:
    """Limited-memory BFGS: two-loop recursion, history ``m``, backtracking Armijo line search."""

    def __init__(
        self,
        history: int = LBFGS_HISTORY,
        first_step: float = LBFGS_FIRST_STEP,
        max_backtracks: int = LBFGS_MAX_TRIES,
    ):
        self.history, self.first_step, self.max_backtracks = history, first_step, max_backtracks
        self.s: list[np.ndarray] = []
        self.y: list[np.ndarray] = []
        self.sy: list[float] = []  # s·y of each pair, used twice per step: computed once
        self.loss: float | None = None
        self.terms: np.ndarray | None = None
        self.grad: np.ndarray | None = None

    def direction(self, grad: np.ndarray) -> np.ndarray:
        """Return ``-H g`` by the two-loop recursion (scaled steepest descent without history)."""
        if not self.s:
            return -grad * (self.first_step / max(float(np.max(np.abs(grad))), 1e-12))
        q = grad.ravel().copy()
        scaled = np.empty_like(q)  # one buffer for every scaled vector: no temporaries
        alphas = []
        for s, y, sy in zip(reversed(self.s), reversed(self.y), reversed(self.sy), strict=True):
            alpha = _dot(s, q) / sy
            q -= np.multiply(y, np.float32(alpha), out=scaled)
            alphas.append(alpha)
        q *= np.float32(self.sy[-1] / _dot(self.y[-1], self.y[-1]))
        for s, y, sy, alpha in zip(self.s, self.y, self.sy, reversed(alphas), strict=True):
            q += np.multiply(s, np.float32(alpha - _dot(y, q) / sy), out=scaled)
        return np.negative(q, out=q).reshape(grad.shape)

    def start(self, x: np.ndarray, objective: Objective) -> None:
        """Evaluate the starting point, unless a step or ``load_state`` already did."""
        if self.loss is None or self.grad is None:
            self.loss, self.terms, self.grad = objective(x)

    def step(self, x: np.ndarray, objective: Objective) -> StepOutcome:
        """Take one accepted step along the quasi-Newton direction."""
        self.start(x, objective)
        assert self.grad is not None
        direction = self.direction(self.grad)
        slope = _dot(self.grad.ravel(), direction.ravel())
        if slope >= 0:  # not a descent direction: forget the curvature pairs
            self.s, self.y, self.sy = [], [], []
            direction = self.direction(self.grad)
            slope = _dot(self.grad.ravel(), direction.ravel())
        new_x, loss, terms, grad = self._line_search(x, direction, slope, objective)
        self._remember((new_x - x).ravel(), (grad - self.grad).ravel())
        self.loss, self.terms, self.grad = loss, terms, grad
        return new_x, loss, terms

    def _line_search(
        self, x: np.ndarray, direction: np.ndarray, slope: float, objective: Objective
    ) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
        """Halve the step from 1 until the Armijo condition holds; accept the last try anyway."""
        assert self.loss is not None
        step = 1.0
        for _ in range(self.max_backtracks):
            new_x = (x + step * direction).astype(np.float32)
            loss, terms, grad = objective(new_x)
            if loss <= self.loss + ARMIJO * step * slope:
                break
            step *= 0.5
        return new_x, loss, terms, grad

    def _remember(self, s: np.ndarray, y: np.ndarray) -> None:
        """Keep a curvature pair if it is positive (keeps H positive definite)."""
        sy = _dot(s, y)
        if sy > CURVATURE * np.sqrt(_dot(s, s) * _dot(y, y)):
            self.s.append(s)
            self.y.append(y)
            self.sy.append(sy)
            del self.s[: -self.history], self.y[: -self.history], self.sy[: -self.history]

    def state(self) -> dict[str, np.ndarray]:
        """Return the curvature history and the loss/gradient at the current point."""
        if self.loss is None or self.grad is None or self.terms is None:
            return {}
        return {
            "s": np.array(self.s, np.float32).reshape(len(self.s), self.grad.size),
            "y": np.array(self.y, np.float32).reshape(len(self.y), self.grad.size),
            "loss": np.array(self.loss),
            "terms": self.terms,
            "grad": self.grad,
        }

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what ``state()`` returned."""
        if not state:
            return
        self.s, self.y = list(state["s"]), list(state["y"])
        self.sy = [_dot(s, y) for s, y in zip(self.s, self.y, strict=True)]
        self.loss, self.terms, self.grad = float(state["loss"]), state["terms"], state["grad"]


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Inner product: float32 BLAS, redone in float64 only if that overflowed.

    Ordinary gradients are far from float32's range (relative error ~1e-7 against float64 at
    256 px), but extreme style weights can overflow it. The float64 pass is ``einsum``, which
    casts in small buffers. On a GPU host the dots of the two-loop recursion, done in float64,
    were most of an L-BFGS iteration (benchmarks/README.md).
    """
    a, b = a.ravel(), b.ravel()
    with np.errstate(over="ignore"):
        fast = float(np.dot(a, b))
    if math.isfinite(fast):
        return fast
    return float(np.einsum("i,i->", a, b, dtype=np.float64))


def make_optimizer(name: str, learning_rate: float) -> Adam | LBFGS:
    """Return a fresh optimizer for a scale pass."""
    return Adam(learning_rate) if name == "adam" else LBFGS()
