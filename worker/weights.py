"""A start-up check of the configured VGG19 weights that does not start TensorFlow.

The prefork parent must not initialize TensorFlow, yet a missing or wrong weights
file must stop the worker at start-up with a clear message rather than fail the
first job. h5py can read the file's layout without building the model.
"""

from __future__ import annotations

from pathlib import Path

import h5py

from shared.errors import WeightsUnavailable

VGG19_CONV_COUNT = 16


def check_weights_file(spec: str) -> None:
    """Raise WeightsUnavailable unless spec is "imagenet" or a Keras 3 VGG19 no-top weights file."""
    if spec == "imagenet":
        return
    path = Path(spec)
    if not path.is_file():
        raise WeightsUnavailable(f"NST_VGG19_WEIGHTS: no file at {spec}")
    try:
        with h5py.File(path, "r") as weights:
            layers = weights.get("layers")
            convs = [name for name in (layers or {}) if name.startswith("conv2d")]
    except OSError as exc:
        raise WeightsUnavailable(
            f"NST_VGG19_WEIGHTS: {spec} is not an HDF5 weights file ({exc})"
        ) from None
    if len(convs) != VGG19_CONV_COUNT:
        raise WeightsUnavailable(
            f"NST_VGG19_WEIGHTS: {spec} holds {len(convs)} convolution layers, "
            f"not VGG19's {VGG19_CONV_COUNT} (expected a Keras 3 vgg19 notop .weights.h5)"
        )
