"""VGG19 pre/de-processing and the colour-preservation helpers."""

from __future__ import annotations

import numpy as np
from PIL import Image

from worker.nst import images as img

RNG = np.random.default_rng(3)


def _random_rgb(height: int = 8, width: int = 6) -> np.ndarray:
    return RNG.integers(0, 256, size=(height, width, 3)).astype(np.uint8)


def test_preprocess_then_deprocess_returns_the_same_pixels() -> None:
    rgb = _random_rgb()
    np.testing.assert_array_equal(img.deprocess_image(img.preprocess_image(rgb)), rgb)


def test_preprocess_is_bgr_minus_imagenet_mean() -> None:
    rgb = np.array([[[255, 0, 10]]], dtype=np.uint8)
    expected = np.array([10 - 103.939, 0 - 116.779, 255 - 123.68], dtype=np.float32)
    np.testing.assert_allclose(img.preprocess_image(rgb)[0, 0, 0], expected, rtol=1e-6)


def test_deprocess_clips_to_valid_8_bit() -> None:
    out = img.deprocess_image(np.full((1, 2, 2, 3), 1000.0, dtype=np.float32))
    assert out.dtype == np.uint8 and out.max() == 255
    out = img.deprocess_image(np.full((1, 2, 2, 3), -1000.0, dtype=np.float32))
    assert out.min() == 0


def test_resize_long_side_keeps_aspect_ratio() -> None:
    resized = img.resize_long_side(Image.new("RGB", (200, 100)), 64)
    assert resized.size == (64, 32)


def test_histogram_matching_gives_the_contents_mean_and_covariance() -> None:
    style = RNG.uniform(60, 200, size=(32, 32, 3))
    content = RNG.uniform(0, 255, size=(32, 32, 3)) * np.array([0.2, 0.5, 0.9]) + 10
    matched = img.match_color_histogram(style, content).reshape(-1, 3)
    flat = content.reshape(-1, 3)
    np.testing.assert_allclose(matched.mean(axis=0), flat.mean(axis=0), atol=0.5)
    np.testing.assert_allclose(np.cov(matched, rowvar=False), np.cov(flat, rowvar=False), atol=5)


def test_content_chroma_keeps_result_luminance_and_content_colour() -> None:
    content, result = _random_rgb().astype(np.float32), _random_rgb().astype(np.float32)
    combined = img.with_content_chroma(result, content).astype(np.float64)
    yiq, content_yiq, result_yiq = map(img.rgb_to_yiq, (combined, content, result))
    inside = (combined > 0).all(axis=-1) & (combined < 255).all(axis=-1)
    np.testing.assert_allclose(yiq[inside, 0], result_yiq[inside, 0], atol=1.0)
    np.testing.assert_allclose(yiq[inside, 1:], content_yiq[inside, 1:], atol=1.5)
