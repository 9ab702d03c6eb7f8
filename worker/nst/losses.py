"""Gatys et al. (2016) losses, each a few lines mirroring its formula, written in ``keras.ops``.

Features are ``1 x H x W x N`` activations of one VGG19 layer. Gram matrices are the
unnormalized ``F^T F`` of the paper; content and style terms use the paper's normalizations
exactly: ``L_content = sum((F - P)^2) / 2`` and ``E_l = sum((G - A)^2) / (4 N^2 M^2)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

Tensor = Any


def gram_matrix(features: Tensor) -> Tensor:
    """Return the N x N Gram matrix ``F^T F`` of one layer's activations (batch of one)."""
    channels = ops.shape(features)[-1]
    flat = ops.reshape(features, (-1, channels))
    return ops.matmul(ops.transpose(flat), flat)


def content_loss(features: Tensor, target: Tensor) -> Tensor:
    """Return ``sum((F - P)^2) / 2`` for one content layer."""
    return ops.sum(ops.square(features - target)) / 2.0


def style_layer_loss(features: Tensor, target_gram: Tensor) -> Tensor:
    """Return ``E_l = sum((G - A)^2) / (4 N^2 M^2)`` for one style layer.

    Computed as ``sum(((G - A) / M)^2) / (4 N^2)``, the same value, so float32 never holds
    ``M^2`` times a squared Gram entry.
    """
    shape = ops.shape(features)
    n = ops.cast(shape[-1], "float32")
    m = ops.cast(shape[1] * shape[2], "float32")
    return ops.sum(ops.square((gram_matrix(features) - target_gram) / m)) / (4.0 * n * n)


def total_variation_loss(image: Tensor) -> Tensor:
    """Return the sum of squared differences between neighbouring pixels (smoothness prior)."""
    down = image[:, 1:, :, :] - image[:, :-1, :, :]
    right = image[:, :, 1:, :] - image[:, :, :-1, :]
    return ops.sum(ops.square(down)) + ops.sum(ops.square(right))


def weighted_sum(terms: Sequence[Tensor], weights: Tensor) -> Tensor:
    """Return ``sum_l w_l * term_l``."""
    return ops.sum(ops.stack(terms) * weights)


def loss_terms(
    extractor: keras.Model,
    image: Tensor,
    content_targets: Sequence[Tensor],
    style_targets: Sequence[Tensor],
    layer_weights: tuple[Tensor, Tensor],
    coefficients: Tensor,
) -> tuple[Tensor, Tensor]:
    """Return ``(total, [alpha*L_content, beta*L_style, tv_weight*TV])`` for one image.

    ``extractor`` outputs the content layers first, then the style layers; ``coefficients`` is
    ``[alpha, beta, tv_weight]``. Everything that varies between jobs is a tensor argument, so a
    compiled step is reused across jobs of the same size and layer set.
    """
    features = extractor(image)
    n_content = len(content_targets)
    content = weighted_sum(
        [content_loss(f, p) for f, p in zip(features[:n_content], content_targets, strict=True)],
        layer_weights[0],
    )
    style = weighted_sum(
        [style_layer_loss(f, a) for f, a in zip(features[n_content:], style_targets, strict=True)],
        layer_weights[1],
    )
    terms = coefficients * ops.stack([content, style, total_variation_loss(image)])
    return ops.sum(terms), terms
