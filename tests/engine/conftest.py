"""Fixtures for engine tests: the real VGG19 weights, one engine per session, small real images."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from worker.nst import StyleTransfer

REPO = Path(__file__).resolve().parents[2]
SHARED_IMAGES = REPO.parent / "shared" / "images"


@pytest.fixture(scope="session")
def weights_path() -> str:
    """The VGG19 no-top weights file: $NST_VGG19_WEIGHTS, else ../shared/weights beside the repo."""
    return os.environ.get(
        "NST_VGG19_WEIGHTS", str(REPO.parent / "shared" / "weights" / "vgg19_notop.weights.h5")
    )


@pytest.fixture(scope="session")
def engine(weights_path: str) -> StyleTransfer:
    """One engine for the whole session, as a worker process keeps one."""
    return StyleTransfer(weights_path)


def _small(name: str, long_side: int = 96) -> Image.Image:
    image = Image.open(SHARED_IMAGES / name).convert("RGB")
    image.thumbnail((long_side, long_side))
    return image


@pytest.fixture(scope="session")
def content() -> Image.Image:
    """Tübingen, 96 px on the long side."""
    return _small("tubingen.jpg")


@pytest.fixture(scope="session")
def starry_night() -> Image.Image:
    return _small("starry_night.jpg")


@pytest.fixture(scope="session")
def the_scream() -> Image.Image:
    return _small("the_scream.jpg")
