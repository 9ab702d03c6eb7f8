"""Early stop: the loss has stopped improving, so the remaining iterations would change little.

A plateau is a relative improvement of the total loss below ``tolerance`` over the last
``window`` iterations. Its history is part of the run's state, so a resumed run stops exactly
where an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class Plateau:
    """The last ``window + 1`` losses of a pass and whether they have flattened out."""

    def __init__(self, tolerance: float, window: int, history: Iterable[float] = ()) -> None:
        self.tolerance = tolerance
        self.window = window
        self.losses = [float(loss) for loss in history][-(window + 1) :]

    def add(self, loss: float) -> None:
        self.losses = [*self.losses, float(loss)][-(self.window + 1) :]

    def reached(self) -> bool:
        """True when a full window has passed and it improved the loss by under ``tolerance``."""
        if self.tolerance <= 0 or len(self.losses) <= self.window:
            return False
        before, now = self.losses[0], self.losses[-1]
        return before - now < self.tolerance * abs(before)

    def state(self) -> np.ndarray:
        return np.array(self.losses, np.float64)
