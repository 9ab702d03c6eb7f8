"""Run the device loops against the host reference on whatever ``KERAS_BACKEND`` this process
has, and print what ``test_device_loop.py`` checks, as JSON (it runs this under JAX)."""

from __future__ import annotations

import json
import sys
from typing import Any

import keras
import numpy as np

from shared.params import parse_params
from tests.engine.backend_probe import probe_images
from worker.nst import Checkpoint, StyleTransfer


def compare(device: StyleTransfer, host: StyleTransfer, optimizer: str) -> dict[str, Any]:
    """Per-iteration losses both ways; one long call against one call per iteration; resume."""
    content, style = probe_images()
    params = parse_params({"size": 64, "iterations": 6, "optimizer": optimizer, "seed": 3})
    runs = {}
    for name, engine in (("host", host), ("device", device)):
        points: list[Checkpoint] = []
        result = engine.run(content, [style], params, checkpoint_every=1,
                            on_checkpoint=points.append)  # fmt: skip
        runs[name] = (result, points)
    stepwise, points = runs["device"]
    at_once = device.run(content, [style], params)
    resumed = device.run(content, [style], params, resume_from=points[1].state)
    return {
        "host_losses": [c.losses.total for c in runs["host"][1]],
        "device_losses": [c.losses.total for c in points],
        "evaluations": [runs["host"][0].evaluations, stepwise.evaluations],
        "image_difference": int(
            np.abs(stepwise.image.astype(int) - runs["host"][0].image.astype(int)).max()
        ),
        "one_call_equals_stepwise": bool(np.array_equal(at_once.image, stepwise.image)),
        "resume_equals_whole": bool(np.array_equal(resumed.image, stepwise.image)),
    }


if __name__ == "__main__":
    weights = sys.argv[1]
    device, host = StyleTransfer(weights), StyleTransfer(weights, on_device=False)
    report: dict[str, Any] = {"backend": keras.backend.backend()}
    for optimizer in ("adam", "lbfgs"):
        report[optimizer] = compare(device, host, optimizer)
    print(json.dumps(report))
