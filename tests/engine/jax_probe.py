"""Everything the suite checks under JAX, in one process: print it as JSON for ``test_jax.py``.

A process has one Keras backend, so JAX runs in a subprocess; one subprocess for all of it,
because starting JAX, loading VGG19 and compiling the 64 px steps is most of the time, and
the float32 engine here serves both the loss comparison (``backend_probe``) and the device
loops' checks (``device_probe``), which share its compiled loops.
"""

from __future__ import annotations

import json
import sys

import keras

from tests.engine.backend_probe import probe
from tests.engine.device_probe import compare
from tests.engine.repeat_probe import repeat_report
from tests.engine.weights_probe import weights_report
from worker.nst.engine import StyleTransfer

BFLOAT16_JOB = {"size": 64, "iterations": 4, "optimizer": "adam"}  # repeat_report's arguments


def main(weights: str) -> dict[str, object]:
    device, host = StyleTransfer(weights), StyleTransfer(weights, on_device=False)
    return {
        "backend": keras.backend.backend(),
        "losses": probe(device, scorer=host),  # the host loops' step scores: one compile less
        "device": {optimizer: compare(device, host, optimizer) for optimizer in ("adam", "lbfgs")},
        "bfloat16": repeat_report(weights, precision="bfloat16", **BFLOAT16_JOB),
        "weights": weights_report(weights),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
