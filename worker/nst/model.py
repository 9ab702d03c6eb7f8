"""The frozen VGG19 feature extractor: weights loaded once, truncated graphs built per layer set.

``load_vgg19`` reads the convolutional weights once per process (and fails at start-up with
``WeightsUnavailable``, never mid-job). ``FeatureExtractors`` then builds, lazily and once per
(pooling, layers), a model that runs the image only up to the deepest requested layer and returns
that layer's activations. The max- and avg-pooling variants share the very same conv layers, so
they share weights without copying them.

``precision`` "bfloat16" runs the convolutions (and the ReLUs and pooling between them) in
bfloat16: copies of the conv layers under Keras' "bfloat16" policy hold the weights cast once
(40 MB, shared by both poolings), and the float32 image is cast on the way in. The network's
outputs are cast back to float32 as they leave it, so Gram matrices, losses, the image variable
and the optimizer's state stay float32 whatever ran inside (``precision.py``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np

from contract.errors import WeightsUnavailable
from contract.params import VGG19_CONV_LAYERS
from worker.nst.precision import Precision


@dataclass(frozen=True)
class ExtractorKey:
    """What makes two feature extractors the same graph."""

    pooling: str
    layers: tuple[str, ...]
    precision: Precision = "float32"


def load_vgg19(weights: str) -> keras.Model:
    """Load VGG19 without its classifier head; raise WeightsUnavailable with the reason."""
    if weights != "imagenet" and not os.path.isfile(weights):
        raise WeightsUnavailable(f"VGG19 weights file not found: {weights}")
    try:
        model = keras.applications.VGG19(
            include_top=False, weights=weights, input_shape=(None, None, 3)
        )
    except Exception as exc:
        raise WeightsUnavailable(
            f"cannot load VGG19 weights from {weights!r} (expected the Keras VGG19 no-top "
            f".weights.h5 file): {type(exc).__name__}: {exc}"
        ) from None
    model.trainable = False
    return model


def deepest_layer(layers: Sequence[str]) -> str:
    """Return the layer furthest into the network; the graph stops there."""
    return max(layers, key=VGG19_CONV_LAYERS.index)


def build_extractor(
    convs: dict[str, keras.layers.Conv2D], vgg19: keras.Model, key: ExtractorKey
) -> keras.Model:
    """Rebuild VGG19 up to the deepest wanted layer with this pooling, over the conv layers
    ``convs`` (VGG19's own, or their bfloat16 copies); the outputs leave it as float32."""
    pool_cls = keras.layers.AveragePooling2D if key.pooling == "avg" else keras.layers.MaxPooling2D
    inputs = keras.Input(shape=(None, None, 3))
    outputs: dict[str, keras.KerasTensor] = {}
    last = deepest_layer(key.layers)
    x = inputs
    for layer in vgg19.layers[1:]:
        if isinstance(layer, keras.layers.Conv2D):
            x = convs[layer.name](x)
            outputs[layer.name] = x
            if layer.name == last:
                break
        else:
            x = pool_cls(
                pool_size=2, strides=2, name=f"{layer.name}_{key.pooling}", dtype=key.precision
            )(x)
    features = [keras.ops.cast(outputs[name], "float32") for name in key.layers]
    model = keras.Model(inputs, features, name=f"vgg19_{last}_{key.precision}")
    model.trainable = False
    return model


def bfloat16_convs(vgg19: keras.Model) -> dict[str, keras.layers.Conv2D]:
    """Copies of VGG19's conv layers that hold their weights in bfloat16 and compute in it."""
    convs = {}
    for layer in vgg19.layers:
        if isinstance(layer, keras.layers.Conv2D):
            copy = keras.layers.Conv2D.from_config({**layer.get_config(), "dtype": "bfloat16"})
            copy.build((None, None, None, layer.kernel.shape[2]))
            copy.set_weights([np.asarray(w, np.float32) for w in layer.get_weights()])
            copy.trainable = False
            convs[layer.name] = copy
    return convs


class FeatureExtractors:
    """Truncated VGG19 graphs over one set of loaded weights, built on first use and kept."""

    def __init__(self, weights: str) -> None:
        self._vgg19 = load_vgg19(weights)
        self._convs: dict[Precision, dict[str, keras.layers.Conv2D]] = {
            "float32": {
                layer.name: layer
                for layer in self._vgg19.layers
                if isinstance(layer, keras.layers.Conv2D)
            },
        }
        self._cache: dict[ExtractorKey, keras.Model] = {}

    def get(
        self, pooling: str, layers: Sequence[str], precision: Precision = "float32"
    ) -> keras.Model:
        """Return the extractor whose outputs are ``layers`` in order (a list of float32
        tensors, one per layer), its convolutions run in ``precision``."""
        key = ExtractorKey(pooling, tuple(layers), precision)
        if key not in self._cache:
            if precision not in self._convs:
                self._convs[precision] = bfloat16_convs(self._vgg19)
            self._cache[key] = build_extractor(self._convs[precision], self._vgg19, key)
        return self._cache[key]
