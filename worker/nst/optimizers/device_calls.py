"""What the compiled K-iteration loops share: the tally one call hands back, and the call's shape.

A compiled call (``device_adam.py``, ``device_lbfgs.py``) runs up to ``count`` iterations on the
device and tells the host, in a few small tensors, what they did: each iteration's loss and
terms (progress, and early stop's history in checkpoints), how many loss-and-gradient
evaluations they took, and why the call ended: the count reached, early stop's plateau, or a
non-finite loss. The plateau (``stopping.Plateau``) is checked here after every iteration, as
the host loop did, so a run stops at the same iteration whatever the calls' lengths.

``count`` is a tensor, never a constant of the compiled function, so calls of any length share
one compilation; ``MAX_COUNT`` bounds it because the tally's buffers have a fixed shape. The
plateau window's length is a shape too: every call of a loop must pass the same one
(``contract.params.EARLY_STOP_WINDOW``), or the function is traced and compiled again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import keras
import numpy as np
from keras import ops

from contract.errors import EngineFailure
from worker.nst.optimizers.gradients import compile_traced, traces
from worker.nst.optimizers.stopping import Plateau

Tensor = Any
MAX_COUNT = 1024  # iterations per call at most: ~1.5 s of 512 px Adam on an H100


class EarlyStop(NamedTuple):
    """Early stop's inputs for one call (tensors)."""

    tolerance: Tensor  # float32; 0 never stops
    allowed: Tensor  # bool: a progress update went out (or nobody listens for one)


class CallTally(NamedTuple):
    """What a call has done so far (tensors, carried through its loop)."""

    done: Tensor  # int32 iterations completed
    evaluations: Tensor  # int32 loss-and-gradient calls
    losses: Tensor  # MAX_COUNT float32: total loss of each completed iteration
    terms: Tensor  # MAX_COUNT x 3 float32: its content, style and TV terms
    recent: Tensor  # window + 1 float32: the plateau window, newest last
    held: Tensor  # int32: how many of ``recent`` are real losses
    stopped: Tensor  # bool: the loss plateaued
    bad_loss: Tensor  # float32: a non-finite loss that ended the call, else 0


def start_tally(recent: Tensor, held: Tensor) -> CallTally:
    """An empty tally that continues early stop's window."""
    return CallTally(
        done=ops.convert_to_tensor(0, "int32"),
        evaluations=ops.convert_to_tensor(0, "int32"),
        losses=ops.zeros((MAX_COUNT,), "float32"),
        terms=ops.zeros((MAX_COUNT, 3), "float32"),
        recent=recent,
        held=held,
        stopped=ops.convert_to_tensor(False),
        bad_loss=ops.convert_to_tensor(0.0, "float32"),
    )


def running(tally: CallTally, count: Tensor) -> Tensor:
    """Whether the call goes on: iterations left, no plateau, no non-finite loss."""
    return (tally.done < count) & ~tally.stopped & ops.isfinite(tally.bad_loss)


def evaluated(tally: CallTally, loss: Tensor) -> CallTally:
    """Count one evaluation; a non-finite ``loss`` ends the call."""
    return tally._replace(
        evaluations=tally.evaluations + 1,
        bad_loss=ops.where(ops.isfinite(loss), tally.bad_loss, loss),
    )


def completed(tally: CallTally, loss: Tensor, terms: Tensor, early_stop: EarlyStop) -> CallTally:
    """Record an iteration's loss and check for a plateau, as ``stopping.Plateau`` does."""
    slot = ops.arange(MAX_COUNT) == tally.done
    recent = ops.concatenate([tally.recent[1:], ops.reshape(loss, (1,))])
    held = ops.minimum(tally.held + 1, ops.shape(recent)[0])
    before, now = recent[0], recent[-1]
    plateau = (
        (early_stop.tolerance > 0)
        & (held == ops.shape(recent)[0])
        & (before - now < early_stop.tolerance * ops.abs(before))
    )
    return tally._replace(
        done=tally.done + 1,
        losses=ops.where(slot, loss, tally.losses),
        terms=ops.where(slot[:, None], terms[None, :], tally.terms),
        recent=recent,
        held=held,
        stopped=plateau & early_stop.allowed,
    )


@dataclass
class EvaluationCount:
    """A job's loss-and-gradient evaluations in this process, kept by the loops of all its
    passes (their final-loss evaluations too), so that ``Advance`` need not carry those."""

    count: int = 0


@dataclass(frozen=True)
class Advance:
    """What one call did, on the host: ``iterations`` losses and terms, in order."""

    iterations: int
    evaluations: int
    losses: np.ndarray  # float32, one per iteration
    terms: np.ndarray  # iterations x 3
    stopped: bool  # early stop: the loss plateaued at the last iteration


def call_inputs(plateau: Plateau, allowed: bool) -> tuple[Tensor, Tensor, EarlyStop]:
    """Early stop's window as fixed-size tensors (newest last) and its rule, for one call."""
    size = plateau.window + 1
    held = plateau.losses[-size:]
    recent = np.zeros(size, np.float32)
    if held:
        recent[-len(held) :] = held
    return (
        ops.convert_to_tensor(recent),
        ops.convert_to_tensor(len(held), "int32"),
        EarlyStop(
            ops.convert_to_tensor(np.float32(plateau.tolerance)),
            ops.convert_to_tensor(bool(allowed)),
        ),
    )


def advance_of(tally: CallTally, evaluations: EvaluationCount) -> Advance:
    """Bring a call's tally to the host and add its evaluations to the job's count; raise
    EngineFailure if a loss was non-finite."""
    evaluations.count += int(tally.evaluations)
    bad = float(tally.bad_loss)
    if not np.isfinite(bad):
        raise EngineFailure(f"the loss became non-finite ({bad}); try smaller weights")
    done = int(tally.done)
    return Advance(
        iterations=done,
        evaluations=int(tally.evaluations),
        losses=np.asarray(tally.losses)[:done],
        terms=np.asarray(tally.terms)[:done],
        stopped=bool(tally.stopped),
    )


class CompiledLoop:
    """One optimizer's loop compiled for one image shape and layer set (a compiled-step cache
    entry); subclasses say how many warm-up iterations its first call runs and ``start`` a pass."""

    warm_count = 0

    def __init__(
        self,
        iterations: Callable[..., Any],
        jit_compile: bool,
        weights: Sequence[keras.Variable] = (),
    ) -> None:
        self._call = compile_traced(iterations, jit_compile, weights)

    @property
    def traces(self) -> int:
        """Times the loop was traced: 1 after any number of calls of one shape."""
        return traces(self._call)
