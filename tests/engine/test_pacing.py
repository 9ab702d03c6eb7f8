"""How many iterations a compiled call runs: up to the next report, never past the pass."""

from __future__ import annotations

from worker.nst.optimizers.cadence import Cadence
from worker.nst.optimizers.device_calls import MAX_COUNT
from worker.nst.optimizers.pacing import Pacing


def _cadence(
    progress: float | None = None, state: float | None = None, every: int | None = None
) -> Cadence:
    """Progress and state last reported at t = 100 s."""
    return Cadence(progress, state, every, last_progress=100.0, last_state=100.0)


def test_without_a_listener_a_call_runs_the_rest_of_the_pass_up_to_the_bound() -> None:
    assert Pacing().count(None, iteration=0, end=300, now=0.0) == 300
    assert Pacing().count(None, iteration=0, end=5000, now=0.0) == MAX_COUNT


def test_a_call_ends_at_the_next_checkpoint_every_multiple_and_at_the_pass_end() -> None:
    cadence = _cadence(every=25)
    assert Pacing().count(cadence, iteration=10, end=100, now=100.0) == 15
    assert Pacing().count(cadence, iteration=90, end=95, now=100.0) == 5


def test_until_a_speed_is_measured_a_call_runs_one_iteration() -> None:
    cadence = _cadence(progress=2.0)
    assert Pacing().count(cadence, iteration=0, end=500, now=100.0) == 1


def test_a_call_ends_at_the_first_iteration_at_or_after_progress_is_due() -> None:
    cadence = _cadence(progress=2.0, state=30.0)
    pacing = Pacing()
    pacing.observe(seconds=0.8, iterations=2)  # 0.4 s per iteration
    assert pacing.count(cadence, iteration=3, end=500, now=100.5) == 4  # due in 1.5 s
    assert pacing.count(cadence, iteration=3, end=500, now=103.0) == 1  # overdue
    cadence.reported(now=130.0, saved=False)  # progress again at 132; state due at 130
    assert pacing.count(cadence, iteration=3, end=500, now=129.0) == 3


def test_the_latest_call_sets_the_speed() -> None:
    pacing = Pacing()
    pacing.observe(seconds=4.0, iterations=1)  # e.g. a slow first call
    pacing.observe(seconds=0.01, iterations=10)
    cadence = _cadence(progress=2.0)
    assert pacing.count(cadence, iteration=0, end=10_000, now=100.0) == MAX_COUNT
    assert pacing.count(cadence, iteration=0, end=10_000, now=101.5) == 500
    pacing.observe(seconds=1.0, iterations=0)  # an empty call says nothing
    assert pacing.seconds_per_iteration == 0.001
