"""``style_strength`` means the same everywhere: scored with the neutral yardstick, not the loss.

The yardstick (benchmarks/yardstick.py) measures a content distance at a layer the engine does
not optimize and relative Gram distances at the style layers; lower is better on both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.yardstick import Scores, Yardstick
from contract.params import parse_params
from tests.images import SHARED_IMAGES
from worker.nst.engine import StyleTransfer

CONTENT, STYLE = SHARED_IMAGES / "tubingen.jpg", SHARED_IMAGES / "starry_night.jpg"


@pytest.fixture(scope="module")
def yardstick(weights_path: str) -> Yardstick:
    return Yardstick(weights_path)


def stylize(engine: StyleTransfer, size: int, iterations: int, **params: object) -> np.ndarray:
    content, style = (Image.open(p).convert("RGB") for p in (CONTENT, STYLE))
    job = parse_params({"size": size, "iterations": iterations, **params})
    return engine.run(content, [style], job).image


def score(yardstick: Yardstick, image: np.ndarray, size: int) -> Scores:
    return yardstick.score(image, CONTENT, STYLE, size)


def test_a_stronger_setting_paints_more_style_and_keeps_less_content(
    engine: StyleTransfer, yardstick: Yardstick
) -> None:
    scores = [
        score(yardstick, stylize(engine, 48, 20, style_strength=strength), 48)
        for strength in (0.1, 1.0, 10.0)
    ]
    styles, contents = [s.style for s in scores], [s.content for s in scores]
    assert styles == sorted(styles, reverse=True) and styles[0] > styles[-1] * 1.2, scores
    assert contents == sorted(contents) and contents[-1] > contents[0] * 1.2, scores


def test_strength_1_paints_as_much_style_at_two_sizes(
    engine: StyleTransfer, yardstick: Yardstick
) -> None:
    small = score(yardstick, stylize(engine, 64, 30, style_strength=1), 64)
    large = score(yardstick, stylize(engine, 128, 30, style_strength=1), 128)
    assert abs(small.style - large.style) <= 0.15 * max(small.style, large.style), (small, large)


def test_the_weights_a_strength_used_reproduce_the_image_as_raw_weights(
    engine: StyleTransfer, tmp_path: Path
) -> None:
    """The job record shows the weights; an expert can run them again and get the same picture."""
    content, style = (Image.open(p).convert("RGB") for p in (CONTENT, STYLE))
    strength = engine.run(content, [style], parse_params({"size": 32, "iterations": 3}))
    used = strength.weights
    assert used.style_strength == 1.0
    raw = parse_params(
        {
            "size": 32,
            "iterations": 3,
            "content_weight": used.content_weight,
            "style_weight": used.style_weight,
            "tv_weight": used.tv_weight,
            "content_layer_weights": used.content_layer_weights,
            "style_layer_weights": used.style_layer_weights,
        }
    )
    again = engine.run(content, [style], raw)
    assert again.weights.style_strength is None
    np.testing.assert_array_equal(again.image, strength.image)
