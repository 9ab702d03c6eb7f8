"""When a run reports progress and when it saves its resumable state.

By time on any hardware: progress (numbers and a preview) every ``progress_seconds``, state
every ``checkpoint_seconds``. A GPU iterating every few milliseconds would otherwise upload a
47 MB state many times a second, and a CPU taking seconds per iteration would leave the user
without news for minutes. ``checkpoint_every`` (iterations) saves state at fixed iterations
instead, for reproducible tests. The last iteration always reports and saves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Cadence:
    """The due times of one run's progress reports and state saves."""

    progress_seconds: float | None = None
    checkpoint_seconds: float | None = None
    checkpoint_every: int | None = None
    last_progress: float = field(default_factory=time.monotonic)
    last_state: float = field(default_factory=time.monotonic)

    def state_due(self, iteration: int, total: int, now: float) -> bool:
        if iteration == total:
            return True
        if self.checkpoint_every is not None and iteration % self.checkpoint_every == 0:
            return True
        every = self.checkpoint_seconds
        return every is not None and now - self.last_state >= every

    def progress_due(self, now: float) -> bool:
        every = self.progress_seconds
        return every is not None and now - self.last_progress >= every

    def seconds_until_due(self, now: float) -> float | None:
        """Seconds until progress or state is due by time (negative: overdue); None: never."""
        due = [
            last + every
            for last, every in (
                (self.last_progress, self.progress_seconds),
                (self.last_state, self.checkpoint_seconds),
            )
            if every is not None
        ]
        return min(due) - now if due else None

    def iterations_until_state(self, iteration: int) -> int | None:
        """Iterations from ``iteration`` to the next multiple of ``checkpoint_every``, if set."""
        every = self.checkpoint_every
        return None if every is None else every - iteration % every

    def reported(self, now: float, saved: bool) -> None:
        self.last_progress = now
        if saved:
            self.last_state = now
