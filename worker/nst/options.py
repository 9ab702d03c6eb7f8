"""``RunOptions``: how a run reports, resumes and is bounded, apart from the job it runs.

The job (``JobParams``, the images) says what to compute; these say how the caller wants to
hear about it: when progress and resumable state fall due, whom to tell, where to continue
from, how much memory the job may take. Every engine's ``run`` takes them as one value
(``worker.engine_protocols.Engine``): the worker's runner, ``nst run`` and the benchmarks build
one, and an engine that ignores one (the simulated engine holds no memory) says so in one place.
No Keras in here: the worker imports it without starting TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from worker.nst.results import Checkpoint


@dataclass(frozen=True)
class RunOptions:
    """Reporting, resuming and the memory cap of one ``run``; the defaults report nothing.

    ``on_checkpoint`` gets progress (with a preview, ``state`` None) every
    ``progress_seconds`` and resumable state every ``checkpoint_seconds`` or every
    ``checkpoint_every`` iterations, always at the end (``optimizers/cadence.py``); answering
    True to a progress point asks for the state at once (a worker that must hand its job
    back). ``resume_from`` is the ``state`` of any earlier checkpoint of the same job.
    ``memory_limit_mib`` caps what the job may need (``memory.check_fits``).
    """

    checkpoint_every: int | None = None
    progress_seconds: float | None = None
    checkpoint_seconds: float | None = None
    on_checkpoint: Callable[[Checkpoint], bool | None] | None = None
    resume_from: bytes | None = None
    memory_limit_mib: float | None = None


REPORT_NOTHING = RunOptions()  # ``run``'s default: no reports, a fresh start, no memory cap
