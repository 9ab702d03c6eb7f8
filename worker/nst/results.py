"""What the engine hands back: progress checkpoints and the finished result (losses: contract.jobs).

Re-exported by ``worker.nst.engine`` and ``worker.nst``; plain frozen dataclasses so the worker
can log, store and compare them without knowing anything about TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from contract.jobs import Losses, LossWeights

__all__ = ["Checkpoint", "LossWeights", "Losses", "TransferResult"]


@dataclass(frozen=True)
class Checkpoint:
    """Progress after ``iteration`` of ``total``; ``state`` resumes the run from here.

    ``state`` is None for a progress report between state saves (``optimizers/cadence.py``).
    """

    iteration: int
    total: int
    losses: Losses
    elapsed_seconds: float
    image: np.ndarray  # H x W x 3 uint8 RGB
    state: bytes | None
    weights: LossWeights  # what the losses ran with (from style_strength, or raw)
    stopped_early: bool = False  # the loss plateaued: this is the last checkpoint
    compile_seconds: float = 0.0  # spent compiling steps for new image shapes so far


@dataclass(frozen=True)
class TransferResult:
    """The finished image (H x W x 3 uint8 RGB) and how it was reached; size is (width, height).

    ``iterations`` is how many ran in all (fewer than asked when early stop ended the run).
    ``evaluations`` counts loss-and-gradient calls in this run (not before a resume): an L-BFGS
    iteration takes one per line-search try, so evaluations / iterations tells what an
    iteration really cost.
    """

    image: np.ndarray
    iterations: int
    seconds: float
    losses: Losses
    size: tuple[int, int]
    weights: LossWeights
    evaluations: int = 0
    iterations_saved: int = 0  # left undone because the loss plateaued (params.early_stop)
    compile_seconds: float = 0.0  # first calls of steps compiled for this run's shapes
    precision: str = "float32"  # what the convolutions ran in (NST_PRECISION, precision.py)

    @property
    def stopped_early(self) -> bool:
        return self.iterations_saved > 0
