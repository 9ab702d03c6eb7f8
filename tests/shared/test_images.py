"""``shared.images``: every mode to sRGB, and the working size that never exceeds the job's size.

Modes that JPEG, PNG and WebP cannot carry (32-bit integer ``I``, float ``F``, ``PA``) are
built in memory: ``to_srgb`` must still scale them rather than clip them.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from contract.errors import UnsupportedAspectRatio
from contract.params import MIN_SIDE
from shared.images import to_srgb, working_size

RAMP16 = np.tile(np.linspace(0, 65535, 32), (8, 1))


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (Image.fromarray(RAMP16.astype(np.int32), "I"), RAMP16 / 257.0),
        (Image.fromarray((RAMP16 / 65535).astype(np.float32), "F"), RAMP16 / 257.0),
        (Image.fromarray((RAMP16 / 257).astype(np.float32), "F"), RAMP16 / 257.0),
    ],
    ids=["I 16-bit samples", "F in 0..1", "F in 0..255"],
)
def test_wide_samples_are_scaled_not_clipped(image: Image.Image, expected: np.ndarray) -> None:
    rgb = np.asarray(to_srgb(image), float)
    assert rgb.shape == (8, 32, 3)
    assert np.abs(rgb[..., 0] - expected).max() <= 1.0


def test_palette_with_alpha_is_laid_on_white() -> None:
    rgba = np.zeros((4, 8, 4), np.uint8)
    rgba[:, 4:] = (10, 200, 30, 255)
    image = Image.fromarray(rgba, "RGBA").convert("PA")
    assert image.mode == "PA"
    rgb = np.asarray(to_srgb(image))
    assert (rgb[:, :4] == 255).all() and tuple(rgb[0, 6]) == (10, 200, 30)


@given(
    width=st.integers(1, 100_000), height=st.integers(1, 100_000), long_side=st.integers(16, 4096)
)
def test_working_size_never_exceeds_the_long_side(width: int, height: int, long_side: int) -> None:
    try:
        w, h = working_size((width, height), long_side)
    except UnsupportedAspectRatio as refused:
        assert max(width, height) / min(width, height) > long_side / MIN_SIDE * 0.9
        assert f"{long_side / MIN_SIDE:.3g}:1" in refused.message
        return
    assert max(w, h) == long_side and min(w, h) >= MIN_SIDE


def test_a_20000_by_1_image_is_refused_naming_the_ratio_that_would_do() -> None:
    with pytest.raises(UnsupportedAspectRatio, match=r"at most 3:1"):
        working_size((20000, 1), 48, "content image")
