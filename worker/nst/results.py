"""What the engine hands back: loss values, progress checkpoints and the finished result.

Re-exported by ``worker.nst.engine`` and ``worker.nst``; plain frozen dataclasses so the worker
can log, store and compare them without knowing anything about TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Losses:
    """Weighted loss terms (alpha*L_content, beta*L_style, tv_weight*TV) and their sum."""

    content: float
    style: float
    tv: float
    total: float

    @classmethod
    def from_terms(cls, total: float, terms: np.ndarray) -> Losses:
        """Build from the compiled step's ``(total, [content, style, tv])``."""
        return cls(float(terms[0]), float(terms[1]), float(terms[2]), float(total))


@dataclass(frozen=True)
class Checkpoint:
    """Progress after ``iteration`` of ``total``; ``state`` resumes the run from here."""

    iteration: int
    total: int
    losses: Losses
    elapsed_seconds: float
    image: np.ndarray  # H x W x 3 uint8 RGB
    state: bytes


@dataclass(frozen=True)
class TransferResult:
    """The finished image (H x W x 3 uint8 RGB) and how it was reached; size is (width, height).

    ``evaluations`` counts loss-and-gradient calls in this run (not before a resume): an L-BFGS
    iteration takes one per line-search try, so evaluations / iterations tells what an
    iteration really cost.
    """

    image: np.ndarray
    iterations: int
    seconds: float
    losses: Losses
    size: tuple[int, int]
    evaluations: int = 0
