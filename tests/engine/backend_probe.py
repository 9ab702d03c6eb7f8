"""A tiny, fixed job on whatever ``KERAS_BACKEND`` this process has, and its losses.

``test_jax.py`` runs this under JAX in a subprocess (``jax_probe.py``: a process has one Keras
backend) and compares it with the same job on TensorFlow in the test process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
from PIL import Image

from contract.params import JobParams, parse_params
from worker.nst.engine import StyleTransfer
from worker.nst.options import RunOptions

IMAGES = Path(__file__).resolve().parents[2].parent / "shared" / "images"


def probe_params() -> JobParams:
    """The fixed job: 64 px, four L-BFGS iterations from the content image."""
    return parse_params({"size": 64, "iterations": 4, "optimizer": "lbfgs", "seed": 3})


def probe_images() -> tuple[Image.Image, Image.Image]:
    """Tübingen and The Starry Night, shrunk to 96 px as the engine tests do."""
    pair = []
    for name in ("tubingen.jpg", "starry_night.jpg"):
        image = Image.open(IMAGES / name).convert("RGB")
        image.thumbnail((96, 96))
        pair.append(image)
    return pair[0], pair[1]


def probe(engine: StyleTransfer, scorer: StyleTransfer | None = None) -> dict[str, Any]:
    """Loss of the untouched content image (by ``scorer``, else ``engine``: any engine scores
    alike), then the losses along a short run."""
    content, style = probe_images()
    params = probe_params()
    pixels = _content_pixels(content, params)
    start = (scorer or engine).score(content, [style], params, pixels)
    totals: list[float] = []
    engine.run(
        content,
        [style],
        params,
        RunOptions(checkpoint_every=1, on_checkpoint=lambda c: totals.append(c.losses.total)),
    )
    return {"backend": keras.backend.backend(), "start": start.total, "totals": totals}


def _content_pixels(content: Image.Image, params: JobParams) -> Any:
    resized = content.copy()
    resized.thumbnail((params.size, params.size), Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.uint8)
