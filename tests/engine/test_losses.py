"""The loss formulas against values computed by hand with numpy."""

from __future__ import annotations

import numpy as np
import pytest
from keras import ops

from worker.nst.losses import (
    content_loss,
    gram_matrix,
    loss_terms,
    style_layer_loss,
    total_variation_loss,
)

RNG = np.random.default_rng(7)


def _features(height: int, width: int, channels: int) -> np.ndarray:
    return RNG.normal(size=(1, height, width, channels)).astype(np.float32)


def test_gram_matrix_is_f_transpose_f() -> None:
    features = np.arange(12, dtype=np.float32).reshape(1, 2, 2, 3)
    flat = features.reshape(4, 3)
    np.testing.assert_allclose(ops.convert_to_numpy(gram_matrix(features)), flat.T @ flat)


def test_content_loss_is_half_sum_of_squares() -> None:
    generated, target = _features(3, 4, 5), _features(3, 4, 5)
    expected = np.sum((generated - target) ** 2) / 2
    assert float(content_loss(generated, target)) == pytest.approx(expected, rel=1e-5)


def test_style_layer_loss_uses_gatys_normalization() -> None:
    generated, style = _features(3, 4, 5), _features(3, 4, 5)
    g = generated.reshape(12, 5).T @ generated.reshape(12, 5)
    a = style.reshape(12, 5).T @ style.reshape(12, 5)
    expected = np.sum((g - a) ** 2) / (4 * 5**2 * 12**2)
    assert float(style_layer_loss(generated, a)) == pytest.approx(expected, rel=1e-5)


def test_style_layer_loss_is_zero_for_the_same_statistics() -> None:
    features = _features(4, 4, 3)
    shuffled = features.reshape(16, 3)[RNG.permutation(16)].reshape(1, 4, 4, 3)
    target = ops.convert_to_numpy(gram_matrix(shuffled))
    assert float(style_layer_loss(features, target)) == pytest.approx(0.0, abs=1e-4)


def test_total_variation_sums_squared_neighbour_differences() -> None:
    image = np.array([[1, 2], [4, 8]], dtype=np.float32).reshape(1, 2, 2, 1)
    # vertical: (4-1)^2 + (8-2)^2 = 45; horizontal: (2-1)^2 + (8-4)^2 = 17
    assert float(total_variation_loss(image)) == pytest.approx(62.0)


def test_loss_terms_weights_layers_and_sums_alpha_beta_tv() -> None:
    image = _features(4, 4, 3)
    content_target, style_feature = _features(4, 4, 3), _features(4, 4, 3)
    style_target = ops.convert_to_numpy(gram_matrix(style_feature))

    def extractor(x: np.ndarray) -> list[np.ndarray]:
        return [x, x * 2.0]

    total, terms = loss_terms(
        extractor,
        image,
        [content_target],
        [style_target],
        (np.array([3.0], np.float32), np.array([0.5], np.float32)),
        np.array([2.0, 10.0, 0.1], np.float32),
    )
    content = 3.0 * np.sum((image - content_target) ** 2) / 2
    doubled = (image * 2).reshape(16, 3)
    style = 0.5 * np.sum((doubled.T @ doubled - style_target) ** 2) / (4 * 9 * 16**2)
    tv = float(total_variation_loss(image))
    expected = np.array([2.0 * content, 10.0 * style, 0.1 * tv])
    np.testing.assert_allclose(ops.convert_to_numpy(terms), expected, rtol=1e-4)
    assert float(total) == pytest.approx(expected.sum(), rel=1e-4)
