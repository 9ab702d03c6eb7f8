"""What the job runner needs from an engine, stated once so that any engine can fit it.

``worker.nst.engine.StyleTransfer`` (VGG19) satisfies ``Engine``, and so does any engine a worker is
told to import by NST_ENGINE (``worker/lifecycle.py``; the benchmarks' simulated engine,
``benchmarks/simulated_engine.py``, is one). The runner reads a checkpoint's numbers, image and
state and a result's image, nothing more; these Protocols say exactly that. What a run is
asked besides the job is one value, ``RunOptions`` (``worker/nst/options.py``, no Keras).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from PIL import Image

from contract.jobs import Losses, LossWeights
from contract.params import JobParams
from worker.nst.options import RunOptions


class CheckpointView(Protocol):
    """Progress after ``iteration`` of ``total``; ``state`` resumes the run from there."""

    @property
    def iteration(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def losses(self) -> Losses: ...
    @property
    def elapsed_seconds(self) -> float: ...
    @property
    def image(self) -> np.ndarray: ...  # H x W x 3 uint8 RGB
    @property
    def state(self) -> bytes | None: ...  # None: a progress report between state saves
    @property
    def weights(self) -> LossWeights: ...
    @property
    def stopped_early(self) -> bool: ...
    @property
    def compile_seconds(self) -> float: ...


class ResultView(Protocol):
    """The finished image, H x W x 3 uint8 RGB, and the precision it was made in."""

    @property
    def image(self) -> np.ndarray: ...
    @property
    def precision(self) -> str: ...  # what the convolutions ran in: float32 or bfloat16


class Engine(Protocol):
    """Runs one job at a time; exceptions raised by ``on_checkpoint`` propagate unchanged."""

    def run(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        params: JobParams,
        options: RunOptions = ...,
    ) -> ResultView: ...
