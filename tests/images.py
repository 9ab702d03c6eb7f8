"""Small real test images, made from ../shared/images so they are real photographs."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from PIL import Image

SHARED_IMAGES = Path(__file__).resolve().parents[1].parent / "shared" / "images"


@cache
def photo_bytes(name: str, long_side: int = 64, fmt: str = "JPEG") -> bytes:
    """A real image from ../shared/images, shrunk to long_side pixels."""
    with Image.open(SHARED_IMAGES / name) as image:
        image = image.convert("RGB")
        image.thumbnail((long_side, long_side))
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        return buffer.getvalue()


def content_bytes(long_side: int = 64) -> bytes:
    return photo_bytes("tubingen.jpg", long_side)


def style_bytes(long_side: int = 64, name: str = "starry_night.jpg") -> bytes:
    return photo_bytes(name, long_side)


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size
