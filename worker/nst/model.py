"""The frozen VGG19 feature extractor: weights loaded once, truncated graphs built per layer set.

``load_vgg19`` reads the convolutional weights once per process (and fails at start-up with
``WeightsUnavailable``, never mid-job). ``FeatureExtractors`` then builds, lazily and once per
(pooling, layers), a model that runs the image only up to the deepest requested layer and returns
that layer's activations. The max- and avg-pooling variants share the very same conv layers, so
they share weights without copying them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import keras

from shared.errors import WeightsUnavailable
from shared.params import VGG19_CONV_LAYERS


@dataclass(frozen=True)
class ExtractorKey:
    """What makes two feature extractors the same graph."""

    pooling: str
    layers: tuple[str, ...]


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


def build_extractor(vgg19: keras.Model, key: ExtractorKey) -> keras.Model:
    """Rebuild VGG19 up to the deepest wanted layer with this pooling, sharing its conv layers."""
    pool_cls = keras.layers.AveragePooling2D if key.pooling == "avg" else keras.layers.MaxPooling2D
    inputs = keras.Input(shape=(None, None, 3))
    outputs: dict[str, keras.KerasTensor] = {}
    last = deepest_layer(key.layers)
    x = inputs
    for layer in vgg19.layers[1:]:
        if isinstance(layer, keras.layers.Conv2D):
            x = layer(x)
            outputs[layer.name] = x
            if layer.name == last:
                break
        else:
            x = pool_cls(pool_size=2, strides=2, name=f"{layer.name}_{key.pooling}")(x)
    model = keras.Model(inputs, [outputs[name] for name in key.layers], name=f"vgg19_{last}")
    model.trainable = False
    return model


class FeatureExtractors:
    """Truncated VGG19 graphs over one set of loaded weights, built on first use and kept."""

    def __init__(self, weights: str) -> None:
        self._vgg19 = load_vgg19(weights)
        self._cache: dict[ExtractorKey, keras.Model] = {}

    def get(self, pooling: str, layers: Sequence[str]) -> keras.Model:
        """Return the extractor whose outputs are ``layers`` in order (a list, one per layer)."""
        key = ExtractorKey(pooling, tuple(layers))
        if key not in self._cache:
            self._cache[key] = build_extractor(self._vgg19, key)
        return self._cache[key]
