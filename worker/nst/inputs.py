"""What one scale pass optimizes against: its size, its images and its precomputed loss targets.

Targets are computed once per pass (the content activations and the blended style Gram
matrices), never per iteration. Several style images are blended in the targets: per layer,
``A_l = sum_i blend_i * A_l(image i)``, each Gram rescaled by ``M_generated / M_style_i`` so a
style image of another size (``style_scale``) asks for the same statistics per position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from PIL import Image

from contract.jobs import LossWeights
from contract.params import JobParams
from worker.nst import images as img
from worker.nst.losses import gram_matrix


@dataclass(frozen=True)
class ScalePass:
    """One coarse-to-fine pass: output long side and the iterations it gets."""

    size: int
    iterations: int


@dataclass(frozen=True)
class PassImages:
    """RGB float arrays (0..255) for one pass; ``content`` keeps colour for the luminance mode.

    ``content_target`` may be padded to a shape bucket (``pad_to_bucket``); ``content`` is the
    picture's own size, which the output is cropped back to.
    """

    content: np.ndarray
    content_target: np.ndarray
    styles: tuple[np.ndarray, ...]

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the picture, without any bucket padding."""
        return int(self.content.shape[0]), int(self.content.shape[1])


def pad_to_bucket(rgb: np.ndarray, bucket: int) -> np.ndarray:
    """Pad H x W x C bottom and right, mirrored, to multiples of ``bucket`` (0: unchanged).

    Jobs whose working sizes round up to the same bucket share one compiled step instead of
    compiling their own: users upload every aspect ratio there is. Mirroring (not black)
    keeps the border's statistics like the picture's; the output is cropped back.
    """
    if bucket <= 0:
        return rgb
    height, width = rgb.shape[:2]
    pad = (-height % bucket, -width % bucket)
    return np.pad(rgb, ((0, pad[0]), (0, pad[1]), (0, 0)), mode="symmetric")


def scale_plan(params: JobParams) -> list[ScalePass]:
    """Split ``params.iterations`` over ``size / 2^(k-1) ... size``, the rest to the finest."""
    count = params.scales
    share, extra = divmod(params.iterations, count)
    sizes = params.pass_sizes()
    plan = [
        ScalePass(size, share + (1 if k >= count - extra else 0)) for k, size in enumerate(sizes)
    ]
    return [scale for scale in plan if scale.iterations > 0]


def pass_images(
    content: Image.Image,
    styles: Sequence[Image.Image],
    params: JobParams,
    size: int,
    bucket: int = 0,
) -> PassImages:
    """Resize the images for a pass, apply the colour-preservation mode, pad to the bucket."""
    content_rgb = img.to_rgb_array(img.resize_long_side(content, size))
    style_size = params.style_size(size)
    style_rgbs = [img.to_rgb_array(img.resize_long_side(style, style_size)) for style in styles]
    if params.preserve_color == "luminance":
        return PassImages(
            content_rgb,
            pad_to_bucket(img.luminance_image(content_rgb), bucket),
            tuple(img.match_luminance(style, content_rgb) for style in style_rgbs),
        )
    if params.preserve_color == "histogram":
        style_rgbs = [img.match_color_histogram(style, content_rgb) for style in style_rgbs]
    return PassImages(content_rgb, pad_to_bucket(content_rgb, bucket), tuple(style_rgbs))


def initial_image(images: PassImages, params: JobParams) -> np.ndarray:
    """Return the first pass's starting point in VGG19 space: content, white noise or a style."""
    height, width = images.content_target.shape[:2]
    if params.init == "noise":
        noise = np.random.default_rng(params.seed).uniform(0, 255, (height, width, 3))
        return img.preprocess_image(noise)
    if params.init == "style":
        main_style = int(np.argmax(params.blend_weights(len(images.styles))))
        style = Image.fromarray(images.styles[main_style].astype(np.uint8))
        return img.preprocess_image(img.to_rgb_array(style.resize((width, height))))
    return img.preprocess_image(images.content_target)


def layer_weights(params: JobParams) -> tuple[np.ndarray, np.ndarray]:
    """Return content and style layer weights (defaults: 1 each, and 1/L each)."""
    content = params.content_layer_weights or (1.0,) * len(params.content_layers)
    n_style = len(params.style_layers)
    style = params.style_layer_weights or (1.0 / n_style,) * n_style
    return np.array(content, np.float32), np.array(style, np.float32)


@dataclass(frozen=True)
class FeatureTargets:
    """What a pass compares with: content features, blended Gram targets, positions per layer."""

    content: list[Any]  # one 1 x H x W x N tensor per content layer
    style: list[Any]  # one N x N Gram target per style layer
    positions: list[int]  # M: positions of the output's features at each style layer


def feature_targets(
    extractor: keras.Model, images: PassImages, params: JobParams
) -> FeatureTargets:
    """Compute a pass's targets once (the content's features, the blended style Grams)."""
    n_content = len(params.content_layers)
    generated = extractor(img.preprocess_image(images.content_target))
    content_targets = [keras.ops.convert_to_tensor(f) for f in generated[:n_content]]
    blend = params.blend_weights(len(images.styles))
    style_targets = [keras.ops.zeros((f.shape[-1], f.shape[-1])) for f in generated[n_content:]]
    for weight, style in zip(blend, images.styles, strict=True):
        features = extractor(img.preprocess_image(style))[n_content:]
        for layer, (gen, feat) in enumerate(zip(generated[n_content:], features, strict=True)):
            positions = (gen.shape[1] * gen.shape[2]) / (feat.shape[1] * feat.shape[2])
            style_targets[layer] = style_targets[layer] + gram_matrix(feat) * (weight * positions)
    positions = [int(f.shape[1] * f.shape[2]) for f in generated[n_content:]]
    return FeatureTargets(content_targets, style_targets, positions)


def loss_targets(
    targets: FeatureTargets, weights: LossWeights, params: JobParams, size: int
) -> tuple[Any, ...]:
    """Return the tensors the compiled loss takes besides the image (see ``losses.loss_terms``).

    ``L_content`` sums over positions while ``E_l`` is normalized by them, so a coarse pass
    (``size`` < ``params.size``) scales alpha by the ratio of positions, ``(params.size/size)^2``:
    every pass then strikes the same content/style balance as the full-size output.
    """
    alpha = weights.content_weight * (params.size / size) ** 2
    coefficients = [alpha, weights.style_weight, weights.tv_weight]
    layers = (weights.content_layer_weights, weights.style_layer_weights)
    return (
        targets.content,
        targets.style,
        tuple(keras.ops.convert_to_tensor(np.array(w, np.float32)) for w in layers),
        keras.ops.convert_to_tensor(np.array(coefficients, np.float32)),
    )
