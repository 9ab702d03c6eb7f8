"""The device loops against the host reference on whatever ``KERAS_BACKEND`` this process has:
what ``test_device_loop.py`` checks, as plain data (``jax_probe.py`` collects it under JAX)."""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

from contract.params import EARLY_STOP_WINDOW, parse_params
from tests.engine.backend_probe import probe_images
from worker.nst.engine import StyleTransfer
from worker.nst.optimizers.device_calls import EvaluationCount
from worker.nst.optimizers.loops import compile_device_loop
from worker.nst.optimizers.stopping import Plateau
from worker.nst.options import RunOptions
from worker.nst.results import Checkpoint

SCALES = np.linspace(1.0, 100.0, 12, dtype=np.float32).reshape(1, 2, 2, 3)  # ill-conditioned


def quadratic(image: Any) -> tuple[Any, Any]:
    """sum(s * (x - 3)^2), minimum 0 at x = 3, as test_optimize.py's; terms (total, 0, 0)."""
    total = ops.sum(ops.convert_to_tensor(SCALES) * ops.square(image - 3.0))
    return total, ops.stack([total, total * 0.0, total * 0.0])


def traces_of_a_pass(optimizer: str) -> int:
    """Times a device loop is traced by calls of several lengths, the final loss and a resume."""
    starter = compile_device_loop(optimizer, quadratic, jit_compile=False)
    loop = starter.start(np.zeros((1, 2, 2, 3), np.float32), (), 0.5, {}, EvaluationCount())
    for count, tolerance in ((starter.warm_count, 0.0), (1, 0.0), (7, 1e-9), (3, 0.0)):
        loop.advance(count, Plateau(tolerance, EARLY_STOP_WINDOW, [5.0, 4.0]), True)
    loop.final_loss()
    resumed = starter.start(loop.image(), (), 0.5, loop.state(), EvaluationCount())
    resumed.advance(2, Plateau(0.0, EARLY_STOP_WINDOW), False)
    return starter.traces


def compare(device: StyleTransfer, host: StyleTransfer, optimizer: str) -> dict[str, Any]:
    """Per-iteration losses both ways; one long call against one call per iteration; resume."""
    content, style = probe_images()
    params = parse_params({"size": 64, "iterations": 6, "optimizer": optimizer, "seed": 3})
    runs = {}
    for name, engine in (("host", host), ("device", device)):
        points: list[Checkpoint] = []
        result = engine.run(
            content, [style], params, RunOptions(checkpoint_every=1, on_checkpoint=points.append)
        )
        runs[name] = (result, points)
    stepwise, points = runs["device"]
    at_once = device.run(content, [style], params)
    resumed = device.run(content, [style], params, RunOptions(resume_from=points[1].state))
    return {
        "host_losses": [c.losses.total for c in runs["host"][1]],
        "device_losses": [c.losses.total for c in points],
        "evaluations": [runs["host"][0].evaluations, stepwise.evaluations],
        "image_difference": int(
            np.abs(stepwise.image.astype(int) - runs["host"][0].image.astype(int)).max()
        ),
        "one_call_equals_stepwise": bool(np.array_equal(at_once.image, stepwise.image)),
        "resume_equals_whole": bool(np.array_equal(resumed.image, stepwise.image)),
        "traces": traces_of_a_pass(optimizer),
    }
