"""Every colour mode Pillow opens is stored as the picture a viewer shows (in-process API, S3).

Found from outside: a 16-bit grey PNG was stored almost white (``convert("RGB")`` clips), CMYK
ignored its ICC profile, transparent pixels showed whatever hid under them, and a portrait
photo came out sideways (EXIF orientation ignored). Each case is submitted through the API and
the stored input is compared with the pixels a viewer would show.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from flask.testing import FlaskClient
from PIL import Image, ImageCms

from tests.api.conftest import post_job
from tests.fixtures.live import Env
from tests.images import style_bytes

CMYK_PROFILE = Path("/usr/share/color/icc/ghostscript/default_cmyk.icc")  # Debian libgs-common
WIDTH, HEIGHT = 64, 48
SRGB = ImageCms.createProfile("sRGB")


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def grey16() -> tuple[bytes, np.ndarray]:
    """A 16-bit grey gradient (mode I;16): what a viewer shows is the top 8 bits of each sample."""
    samples = np.tile(np.linspace(0, 65535, WIDTH).astype(np.uint16), (HEIGHT, 1))
    expected = np.repeat((samples / 257.0)[..., None], 3, axis=2)
    return encoded(Image.fromarray(samples), "PNG"), expected


def grey_with_alpha() -> tuple[bytes, np.ndarray]:
    """LA: the left half fully transparent (over black samples), the right half opaque grey 90."""
    grey = np.zeros((HEIGHT, WIDTH), np.uint8)
    grey[:, WIDTH // 2 :] = 90
    alpha = np.zeros((HEIGHT, WIDTH), np.uint8)
    alpha[:, WIDTH // 2 :] = 255
    image = Image.fromarray(np.stack([grey, alpha], axis=-1), "LA")
    expected = np.where(alpha[..., None] == 0, 255.0, 90.0).repeat(3, axis=2)
    return encoded(image, "PNG"), expected


def palette_with_transparency() -> tuple[bytes, np.ndarray]:
    """P with a transparent index: transparent pixels are laid on white."""
    rgba = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    rgba[:, WIDTH // 2 :] = (20, 40, 200, 255)
    image = Image.fromarray(rgba, "RGBA").convert("P")
    expected = np.where(rgba[..., 3:] == 0, 255.0, rgba[..., :3].astype(float))
    return encoded(image, "PNG"), expected


def cmyk_with_profile() -> tuple[bytes, np.ndarray]:
    """A CMYK JPEG with its ICC profile: converted through the profile, not naively."""
    profile = ImageCms.ImageCmsProfile(str(CMYK_PROFILE))
    image = Image.new("CMYK", (WIDTH, HEIGHT), (0, 255, 255, 0))
    expected = np.asarray(ImageCms.profileToProfile(image, profile, SRGB, outputMode="RGB"), float)
    return encoded(image, "JPEG", quality=100, icc_profile=profile.tobytes()), expected


def rotated_by_exif() -> tuple[bytes, np.ndarray]:
    """A landscape JPEG whose EXIF says "rotate 90° clockwise to view": stored as a portrait."""
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pixels[:, : WIDTH // 4] = (250, 250, 250)  # a bright stripe on the left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW
    image = Image.fromarray(pixels)
    expected = np.asarray(image.transpose(Image.Transpose.ROTATE_270), float)  # stripe on top
    return encoded(image, "JPEG", quality=100, exif=exif.tobytes()), expected


CASES: dict[str, Callable[[], tuple[bytes, np.ndarray]]] = {
    "I;16 grey png": grey16,
    "LA png": grey_with_alpha,
    "P png with transparency": palette_with_transparency,
    "CMYK jpeg with ICC profile": cmyk_with_profile,
    "EXIF-rotated jpeg": rotated_by_exif,
}


@pytest.mark.parametrize("name", CASES)
def test_stored_input_shows_the_pixels_a_viewer_would(
    client: FlaskClient, service_env: Env, name: str
) -> None:
    data, expected = CASES[name]()
    response = post_job(
        client,
        [("content", (data, "c.png")), ("style", (style_bytes(64), "s.jpg"))],
        size=64,
        iterations=2,
    )
    assert response.status_code == 202, response.json
    key = f"jobs/{response.json['id']}/content.jpg"
    stored = Image.open(io.BytesIO(service_env.storage().get(key)))
    assert stored.mode == "RGB" and stored.size == expected.shape[1::-1]
    error = np.abs(np.asarray(stored, float) - expected).mean()
    assert error < 3.0, f"{name}: mean error {error:.1f} of 255"
