"""Adam and L-BFGS on a small quadratic: they converge, and restored state continues exactly."""

from __future__ import annotations

import numpy as np
import pytest

from worker.nst.optimizers.host_reference import LBFGS, Adam, _dot, make_optimizer

SCALES = np.linspace(1.0, 100.0, 12, dtype=np.float32).reshape(1, 2, 2, 3)  # ill-conditioned


def quadratic(x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """f(x) = sum(s * (x - 3)^2), minimum 0 at x = 3."""
    diff = x - 3.0
    loss = float(np.sum(SCALES * diff**2))
    return loss, np.array([loss, 0.0, 0.0]), (2 * SCALES * diff).astype(np.float32)


def _steps(optimizer: Adam | LBFGS, x: np.ndarray, count: int) -> tuple[np.ndarray, float]:
    loss = float("inf")
    for _ in range(count):
        x, loss, _ = optimizer.step(x, quadratic)
    return x, loss


def test_lbfgs_minimizes_an_ill_conditioned_quadratic() -> None:
    x, loss = _steps(LBFGS(), np.zeros((1, 2, 2, 3), np.float32), 30)
    assert loss < 1e-6
    np.testing.assert_allclose(x, 3.0, atol=1e-3)


def test_adam_descends_a_quadratic() -> None:
    start = np.zeros((1, 2, 2, 3), np.float32)
    _, loss = _steps(Adam(learning_rate=0.5), start, 50)
    assert loss < quadratic(start)[0] / 10


@pytest.mark.parametrize("name", ["lbfgs", "adam"])
def test_restored_state_continues_exactly(name: str) -> None:
    start = np.zeros((1, 2, 2, 3), np.float32)
    straight, _ = _steps(make_optimizer(name, 0.5), start, 8)
    first = make_optimizer(name, 0.5)
    halfway, _ = _steps(first, start, 4)
    second = make_optimizer(name, 0.5)
    second.load_state({key: np.copy(value) for key, value in first.state().items()})
    resumed, _ = _steps(second, halfway, 4)
    np.testing.assert_array_equal(resumed, straight)


def test_dot_matches_float64_and_survives_float32_overflow() -> None:
    rng = np.random.default_rng(1)
    a, b = (rng.normal(size=50_000).astype(np.float32) * 1e4 for _ in range(2))
    exact = float(np.dot(a.astype(np.float64), b.astype(np.float64)))
    assert _dot(a, b) == pytest.approx(exact, rel=1e-5)
    huge = np.full(1000, 1e20, np.float32)  # its float32 square sum is inf
    assert _dot(huge, huge) == pytest.approx(1e43, rel=1e-6)
