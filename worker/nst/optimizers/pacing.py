"""How many iterations the next compiled call runs: as many as fit before a report is due.

The engine looks at the clock only between calls, so a call must end where the host loop
would have reported: at the pass's end, at a ``checkpoint_every`` multiple, and near the time
the next progress report or state save falls due (``Cadence``). Time is turned into iterations
with the seconds per iteration measured on this pass's previous call; until one is measured
(a pass's first call) a call runs one iteration. A call ends at the first iteration at or after
the due time, as the host loop reported at the first iteration after it, so progress is late by
at most one iteration and a misjudged speed is corrected on the next call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from worker.nst.optimizers.cadence import Cadence
from worker.nst.optimizers.device_calls import MAX_COUNT


@dataclass
class Pacing:
    """The measured speed of one pass."""

    seconds_per_iteration: float | None = None

    def observe(self, seconds: float, iterations: int) -> None:
        """Remember a call's speed; the latest call says most about the next."""
        if iterations > 0:
            self.seconds_per_iteration = seconds / iterations

    def count(self, cadence: Cadence | None, iteration: int, end: int, now: float) -> int:
        """Iterations for the call starting after ``iteration``, the pass ending at ``end``.

        ``cadence`` None: nobody listens for progress, so only the pass's end and
        ``MAX_COUNT`` bound the call.
        """
        count = min(end - iteration, MAX_COUNT)
        if cadence is None:
            return count
        until_state = cadence.iterations_until_state(iteration)
        if until_state is not None:
            count = min(count, until_state)
        seconds = cadence.seconds_until_due(now)
        if seconds is not None:
            speed = self.seconds_per_iteration
            fit = 1 if speed is None or speed <= 0 else math.ceil(seconds / speed)
            count = min(count, max(1, fit))
        return max(1, count) if end > iteration else 0
