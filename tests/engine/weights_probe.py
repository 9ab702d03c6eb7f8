"""Whether a compiled step reads the network's weights at each call, on whatever
``KERAS_BACKEND`` this process has (``jax_probe.py`` collects it under JAX).

A program that baked the weights in as constants (what ``jax.jit`` does with a variable read
while tracing) would give the same loss after the weights change; one that takes them as
arguments (``gradients.compile_traced``) gives the new one, without tracing again.
"""

from __future__ import annotations

import keras
import numpy as np

from worker.nst.model import FeatureExtractors
from worker.nst.optimizers.gradients import traces
from worker.nst.precision import evaluation_step


def weights_report(weights: str) -> dict[str, float | int]:
    """The step's loss before and after block1_conv1's kernel is doubled, and its traces."""
    extractor = FeatureExtractors(weights).get("max", ["block1_conv1", "block2_conv1"])
    step = evaluation_step(extractor)
    rng = np.random.default_rng(0)
    image = keras.ops.convert_to_tensor(rng.uniform(-100, 100, (1, 32, 32, 3)).astype("float32"))
    before = float(keras.ops.convert_to_numpy(step(image)[0]))
    kernel = extractor.get_layer("block1_conv1").kernel
    kernel.assign(kernel * 2.0)
    after = float(keras.ops.convert_to_numpy(step(image)[0]))
    return {"before": before, "after": after, "traces": traces(step)}
