"""The optimizers on the device take the host reference's steps, whatever the calls' lengths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from keras import ops
from PIL import Image

from contract.errors import EngineFailure
from contract.params import EARLY_STOP_WINDOW, JobParams, parse_params
from tests.engine.device_probe import quadratic, traces_of_a_pass
from worker.nst.engine import StyleTransfer
from worker.nst.optimizers.device_calls import EvaluationCount
from worker.nst.optimizers.loops import compile_device_loop
from worker.nst.optimizers.stopping import Plateau
from worker.nst.options import RunOptions
from worker.nst.results import Checkpoint, TransferResult

REPO = Path(__file__).resolve().parents[2]
OPTIMIZERS = ["adam", "lbfgs"]


@pytest.fixture(scope="module")
def host_engine(weights_path: str) -> StyleTransfer:
    """The numpy optimizers of host_reference.py: what quality was measured with."""
    return StyleTransfer(weights_path, on_device=False)


def _params(**overrides: Any) -> JobParams:
    return parse_params({"size": 64, "iterations": 8, "optimizer": "adam", **overrides})


def _losses(
    engine: StyleTransfer,
    content: Image.Image,
    style: Image.Image,
    params: JobParams,
    every: int | None = 1,
    resume_from: bytes | None = None,
) -> tuple[TransferResult, list[Checkpoint]]:
    checkpoints: list[Checkpoint] = []
    result = engine.run(
        content,
        [style],
        params,
        RunOptions(
            checkpoint_every=every,
            on_checkpoint=checkpoints.append if every else None,
            resume_from=resume_from,
        ),
    )
    return result, checkpoints


def _difference(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_device_loop_takes_the_host_optimizers_steps(
    engine, host_engine, content, starry_night, optimizer
):
    """Adam's steps agree to float32 rounding all the way. L-BFGS's agree for its first steps;
    after them float32 sums that differ in their last bit (the order of a CPU's vector
    instructions) move its line search a little, and the courses part by a few 0.1 %
    (seen on an AMD EPYC, 2026-12-07: 2e-5 at iteration 5, 1.4e-3 at 8)."""
    params = _params(optimizer=optimizer)
    host, host_points = _losses(host_engine, content, starry_night, params)
    device, device_points = _losses(engine, content, starry_night, params)
    exact = len(host_points) if optimizer == "adam" else 4
    host_totals = [c.losses.total for c in host_points]
    device_totals = [c.losses.total for c in device_points]
    assert len(device_totals) == len(host_totals)
    assert device_totals[:exact] == pytest.approx(host_totals[:exact], rel=1e-5)
    assert device_totals[exact:] == pytest.approx(host_totals[exact:], rel=1e-2)
    if optimizer == "adam":
        assert device.losses.total == pytest.approx(host.losses.total, rel=1e-5)
        assert device.evaluations == host.evaluations
        assert _difference(device.image, host.image) <= 1
    else:
        assert device.losses.total == pytest.approx(host.losses.total, rel=1e-2)
        assert device.evaluations == host.evaluations


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_one_call_of_many_iterations_computes_what_one_call_per_iteration_does(
    engine, content, starry_night, optimizer
):
    params = _params(optimizer=optimizer, iterations=10)
    stepwise, checkpoints = _losses(engine, content, starry_night, params, every=1)
    at_once, _ = _losses(engine, content, starry_night, params, every=None)  # nobody listens
    assert len(checkpoints) == 10
    np.testing.assert_array_equal(at_once.image, stepwise.image)
    assert at_once.losses.total == stepwise.losses.total
    assert at_once.evaluations == stepwise.evaluations


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_a_checkpoint_resumed_into_calls_of_other_lengths_ends_on_the_same_image(
    engine, content, starry_night, optimizer
):
    params = _params(optimizer=optimizer, iterations=12)
    whole, checkpoints = _losses(engine, content, starry_night, params, every=4)
    resumed, _ = _losses(
        engine, content, starry_night, params, every=None, resume_from=checkpoints[0].state
    )
    assert checkpoints[0].iteration == 4
    np.testing.assert_array_equal(resumed.image, whole.image)
    assert resumed.losses.total == whole.losses.total


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_a_host_optimizers_checkpoint_resumes_on_the_device(
    engine, host_engine, content, starry_night, optimizer
):
    """State written before the device loops (same format) continues where it stood."""
    params = _params(optimizer=optimizer, iterations=6)
    host, checkpoints = _losses(host_engine, content, starry_night, params, every=3)
    resumed, later = _losses(
        engine, content, starry_night, params, every=3, resume_from=checkpoints[0].state
    )
    assert [c.iteration for c in later] == [6]
    assert resumed.losses.total == pytest.approx(host.losses.total, rel=1e-5)
    assert _difference(resumed.image, host.image) <= 1


def test_weights_that_overflow_float32_dot_products_give_the_host_steps(
    engine, host_engine, content, starry_night
):
    """The host redoes such dots in float64; the device scales the gradient by a power of 2."""
    params = _params(
        optimizer="lbfgs", iterations=6, content_weight=1e12, style_weight=1e12, tv_weight=1e12
    )
    host, _ = _losses(host_engine, content, starry_night, params, every=None)
    device, _ = _losses(engine, content, starry_night, params, every=None)
    assert host.losses.total > 1e21  # |gradient|^2 is beyond float32's 3.4e38
    assert device.losses.total == pytest.approx(host.losses.total, rel=1e-5)
    assert _difference(device.image, host.image) <= 1


def test_early_stop_inside_a_call_ends_where_the_plateau_of_its_losses_is_reached(
    engine, content, starry_night
):
    """The plateau is checked on the device after every iteration, as the host loop did.

    (Not compared with the host loop's stop: over 60 L-BFGS iterations float32 rounding moves
    the loss by ~0.3 %, as much as computing the host's own dot products in float64 does.)
    """
    params = _params(optimizer="lbfgs", iterations=200, early_stop=0.05, size=32)
    unstopped = params.model_copy(update={"early_stop": 0.0, "iterations": 100})
    _, stepwise = _losses(engine, content, starry_night, unstopped, every=1)
    losses = [c.losses.total for c in stepwise]
    plateau = Plateau(0.05, EARLY_STOP_WINDOW)
    expected = None
    for iteration, loss in enumerate(losses, start=1):
        plateau.add(loss)
        if iteration > 30 and plateau.reached():  # the first progress update is at 30
            expected = iteration
            break
    stopped, checkpoints = _losses(engine, content, starry_night, params, every=30)
    assert expected is not None and stopped.stopped_early
    assert stopped.iterations == expected
    assert checkpoints[-1].iteration == expected and checkpoints[-1].stopped_early


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_a_non_finite_loss_on_the_device_raises_engine_failure(optimizer):
    def poisoned(image: Any) -> tuple[Any, Any]:
        total = ops.sum(image) * float("nan")
        return total, ops.stack([total, total, total])

    starter = compile_device_loop(optimizer, poisoned, jit_compile=False)
    evaluations = EvaluationCount()
    loop = starter.start(np.ones((1, 4, 4, 3), np.float32), (), 1.0, {}, evaluations)
    with pytest.raises(EngineFailure, match="non-finite"):
        loop.advance(5, Plateau(0.0, 3), True)
    assert evaluations.count == 1


def test_lbfgs_on_the_device_minimizes_an_ill_conditionedquadratic() -> None:
    starter = compile_device_loop("lbfgs", quadratic, jit_compile=False)
    loop = starter.start(np.zeros((1, 2, 2, 3), np.float32), (), 1.0, {}, EvaluationCount())
    advance = loop.advance(30, Plateau(0.0, EARLY_STOP_WINDOW), True)
    assert advance.iterations == 30 and advance.losses[-1] < 1e-6
    np.testing.assert_allclose(loop.image(), 3.0, atol=1e-3)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_calls_of_any_length_and_the_final_loss_share_one_compilation(optimizer) -> None:
    assert traces_of_a_pass(optimizer) == 1
